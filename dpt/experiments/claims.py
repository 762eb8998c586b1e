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


def listing(names) -> str:
    """'a', 'a and b', 'a, b and c'; 'none' for nothing (names in code spans)."""
    names = [f"`{n}`" for n in names]
    return "none" if not names else names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

