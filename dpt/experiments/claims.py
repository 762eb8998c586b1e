"""Sentences computed from numbers: what the notebooks say about results.

A conclusion that states a number or a comparison is rendered from the rows, never typed by hand, so it
cannot drift from what the runs measured:

    display(claim("dpt − CoOp: {d}, so {verdict}.", d=diff, verdict=verdict(diff, "dpt", "CoOp")))

`tests/test_notebook_text.py` fails on a digit typed into a notebook's markdown (outside headings, equations,
code spans and a short allow-list with a reason per entry).
"""
from __future__ import annotations

import math

MINUS = "−"


def num(x: float, digits: int = 1, sign: bool = False) -> str:
    """A number as the text shows it: fixed decimals, a true minus sign, an explicit + where asked."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    s = f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"
    return s.replace("-", MINUS)


def interval(iv, digits: int = 2) -> str:
    """'+0.85 [−0.12, 1.80]' for a bootstrap Interval (mean, lo, hi) of a difference."""
    return f"{num(iv.mean, digits, sign=True)} [{num(iv.lo, digits)}, {num(iv.hi, digits)}]"


def verdict(iv, a: str, b: str, metric: str = "HM") -> str:
    """The plain-words reading of a paired difference a − b: a claim stands only where the interval excludes zero."""
    if iv.lo > 0:
        return f"{a} is above {b} on {metric}, an interval that excludes zero"
    if iv.hi < 0:
        return f"{a} is below {b} on {metric}, an interval that excludes zero"
    return f"{a} and {b} cannot be told apart on {metric} (the interval contains zero)"


def compare_word(a: float, b: float, tol: float = 0.0) -> str:
    return "above" if a > b + tol else "below" if a < b - tol else "level with"


def claim(text: str, **values):
    """Markdown of `text` with `values` filled in (numbers through `num`); shown with IPython's display."""
    import numbers
    import string
    from IPython.display import Markdown
    formatted = {name for _, name, spec, _ in string.Formatter().parse(text) if name and spec}  # e.g. {lr:g}
    filled = {k: num(float(v)) if k not in formatted and isinstance(v, numbers.Real)
              and not isinstance(v, numbers.Integral) else v for k, v in values.items()}
    return Markdown(text.format(**filled))


def differences(boot, a: str, others, dataset: str = "average", metric: str = "hm", names: dict | None = None):
    """Markdown bullets, one per b in `others`: a − b with its paired interval and its plain-words verdict."""
    names = names or {}
    lines = []
    for b in others:
        iv = boot.difference(a, b, dataset, metric)
        lines.append(f"* {names.get(a, a)} − {names.get(b, b)}: {interval(iv)}: "
                     f"{verdict(iv, names.get(a, a), names.get(b, b), metric.upper() if metric == 'hm' else metric)}")
    return "\n".join(lines)


def where(boot, a: str, b: str, datasets, metric: str = "hm") -> dict[str, list[str]]:
    """The datasets where a is above b, below b, or cannot be told from b (paired intervals)."""
    out = {"above": [], "below": [], "level": []}
    for d in datasets:
        iv = boot.difference(a, b, d, metric)
        out["above" if iv.lo > 0 else "below" if iv.hi < 0 else "level"].append(d)
    return out


def listing(names) -> str:
    """'a', 'a and b', 'a, b and c'; 'none' for nothing (names in code spans)."""
    names = [f"`{n}`" for n in names]
    return "none" if not names else names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def verdict_first(rows, datasets, heldout=(), tuning: dict | None = None):
    """Markdown: the comparison the paired intervals support, stated before any single-dataset reading: dpt against
    CoOp at its tuned epochs (each method's knob tuned on val with the same budget, notebook 06) on the datasets'
    average, then, where a held-out dataset was run, dpt against zero-shot and that CoOp there. rows: a
    base-to-novel results file's; two rows of one (label, dataset, seed) are refused, never pooled."""
    from IPython.display import Markdown

    from ..errors import BadInput
    from .bootstrap import Bootstrap
    labels = ("dpt_tuned", "coop_tuned", "zeroshot")
    keep = [r for r in rows if r["label"] in labels and r.get("split") == "test"]
    seen: dict = {}
    for r in keep:
        key = (r["label"], r["dataset"], r["seed"])
        if key in seen and seen[key] != r.get("run_id"):
            raise BadInput(f"two test rows of {key[0]} on {key[1]}, seed {key[2]}, with different identities; keep "
                           "the one of the current tuning choice")
        seen[key] = r.get("run_id")
    have = {(label, d) for label, d, _ in seen}
    if not all((m, d) in have for m in labels for d in datasets):
        return Markdown("*The equal-tuning comparison has not been run on this profile (`python -m dpt tune`, "
                        "notebook 06), so no verdict is stated here.*")
    coop, how = "CoOp tuned", ""
    if tuning and "coop" in tuning and "dpt" in tuning:
        c = tuning["coop"]
        coop = "CoOp stopped early" if c["chosen"] < c["default"] else "CoOp tuned"
        how = (f" ({c['knob']} {c['chosen']:g} instead of {c['default']:g}, chosen on val; the main knobs of "
               f"{listing(tuning)} were each tuned on val over the same {len(tuning['dpt']['values'])} values, "
               "dpt's after a staged search of its own)")
    boot = Bootstrap([r for r in keep if r["dataset"] in datasets])
    iv = boot.difference("dpt_tuned", "coop_tuned", "average", "hm")
    text = (f"**The verdict first.** Over {len(datasets)} datasets and their seeds, dpt − {coop}{how}, test HM: "
            f"{interval(iv)}: {verdict(iv, 'dpt', coop)}.")
    for h in heldout:
        if not all((m, h) in have for m in labels):
            continue
        hb = Bootstrap([r for r in keep if r["dataset"] == h])
        z, c = hb.difference("dpt_tuned", "zeroshot", h, "hm"), hb.difference("dpt_tuned", "coop_tuned", h, "hm")
        text += (f" On the held-out dataset `{h}`, which no choice looked at: dpt − zero-shot {interval(z)} "
                 f"({verdict(z, 'dpt', 'zero-shot')}); dpt − {coop} {interval(c)}.")
    return Markdown(text)
