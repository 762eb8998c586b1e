"""Tables from result rows: mean and std over seeds per (label, dataset), each label's average, and, where
every row records its per-image predictions, 95% paired-bootstrap intervals over the test images.

Only rows that differ in their seed are pooled: rows of one label and table cell whose identities differ in
anything else (shots, epochs, weights, ...) are shown apart, each label followed by the fields that differ."""
from __future__ import annotations

import json
import statistics

from ..config import flatten
from ..errors import BadInput


def _variant(identity: dict) -> dict:
    """The identity fields a table pools over seeds: all of them but the seed."""
    return {k: v for k, v in flatten(identity).items() if k not in ("seed", "train.seed")}


def distinguish(rows: list[dict], cell=lambda r: (r["label"], r.get("dataset"))) -> list[dict]:
    """The rows, with `label` extended by the identity fields that differ wherever one label's rows in one table
    cell (`cell(row)`) are of several identities, so that only seeds are ever pooled, e.g.
    `coop [shots=2, train.epochs=2]` beside `coop [shots=16, train.epochs=30]`. A label's suffix names the same
    fields in every cell (on every dataset), so its averages pool like with like."""
    key = lambda r: json.dumps(_variant(r.get("identity", {})), sort_keys=True)
    cells: dict = {}
    for r in rows:
        cells.setdefault(cell(r), {}).setdefault(key(r), r)
    fields: dict[str, set] = {}  # label -> the fields that tell its identities apart in some cell
    for variants in cells.values():
        if len(variants) < 2:
            continue
        flats = [flatten(r.get("identity", {})) for r in variants.values()]
        differ = {k for k in set().union(*flats) if k not in ("seed", "train.seed")
                  and len({json.dumps(f.get(k)) for f in flats}) > 1}
        fields.setdefault(next(iter(variants.values()))["label"], set()).update(differ)
    if not fields:
        return rows
    out = []
    for r in rows:
        names = sorted(fields.get(r["label"], ()))
        flat = flatten(r.get("identity", {})) if names else {}
        out.append({**r, "label": r["label"] + " [" + ", ".join(f"{k}={flat.get(k)}" for k in names) + "]"}
                   if names else r)
    return out


def summarise(rows: list[dict], intervals: bool | None = None) -> list[dict]:
    """Mean and std over seeds per (label, dataset), plus each label's average over datasets. intervals (default:
    when every row has per-image records): add <metric>_lo / <metric>_hi, the 95% bootstrap interval. Rows of one
    label and dataset that differ in more than the seed are summarised apart (see `distinguish`)."""
    rows = distinguish(rows)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["label"], r["dataset"]), []).append(r)
    out = []
    for (label, d), rs in groups.items():
        s = {"label": label, "dataset": d, "n": len(rs)}
        for k in ("base", "novel", "hm"):
            vals = [r[k] for r in rs]
            s[k] = statistics.fmean(vals)
            s[k + "_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        out.append(s)
    for label in dict.fromkeys(r["label"] for r in rows):
        per = [s for s in out if s["label"] == label and s["dataset"] != "average"]
        avg = {"label": label, "dataset": "average", "n": len(per),
               "of": len({r["dataset"] for r in rows})}  # datasets it averages, of the table's
        for k in ("base", "novel"):
            avg[k] = statistics.fmean(s[k] for s in per)
            avg[k + "_std"] = statistics.fmean(s[k + "_std"] for s in per)
        avg["hm"] = 2 * avg["base"] * avg["novel"] / max(1e-9, avg["base"] + avg["novel"])
        avg["hm_std"] = statistics.fmean(s["hm_std"] for s in per)
        out.append(avg)
    # intervals for the labels whose every row records its per-image predictions (rows written before dpt
    # recorded them have none); intervals=True insists on every label, False skips them
    recorded = {lb for lb in dict.fromkeys(r["label"] for r in rows)
                if all("correct" in r for r in rows if r["label"] == lb)}
    if intervals is not False and (recorded or intervals):
        from .bootstrap import Bootstrap
        boot = Bootstrap(rows if intervals else [r for r in rows if r["label"] in recorded])
        for s in out:
            if s["label"] in recorded or intervals:
                for k in ("base", "novel", "hm"):
                    ci = boot.interval(s["label"], s["dataset"], k)
                    s[k + "_lo"], s[k + "_hi"] = ci.lo, ci.hi
    return out


def format_table(summary: list[dict], labels=None, datasets=None) -> str:
    """One line per (label, dataset): mean ± std over seeds, and [95% interval over test images] where known;
    datasets and labels in the order given (others after them, alphabetically), the average last."""
    def rank(order, x):
        order = list(order or [])
        return (order.index(x), "") if x in order else (len(order), x)
    w = max([10, *(len(s["label"]) for s in summary)])
    ci = any("hm_lo" in s for s in summary)
    cw = 27 if ci else 13

    def cell(s, k):
        text = f"{s[k]:6.2f} ± {s[k + '_std']:4.2f}"
        if not ci:
            return text
        return text + (f" [{s[k + '_lo']:5.1f}, {s[k + '_hi']:5.1f}]" if k + "_lo" in s else " " * 14)

    lines = [f"{'method':<{w}} {'dataset':<14} {'base':>{cw}} {'novel':>{cw}} {'HM':>{cw}}"]
    for s in sorted(summary, key=lambda s: (s["dataset"] == "average", rank(datasets, s["dataset"]),
                                            rank(labels, s["label"].split(" [")[0]), s["label"])):
        name = s["dataset"] if s["dataset"] != "average" or s["n"] == s.get("of", s["n"]) else f"average {s['n']}/{s['of']}"
        lines.append(f"{s['label']:<{w}} {name:<14} " + " ".join(f"{cell(s, k):>{cw}}" for k in ("base", "novel", "hm")))
    if ci:
        lines.append("mean ± std over seeds [95% paired-bootstrap interval over the evaluated images, 2,000 resamples;"
                     " none where the rows predate per-image records]")
    return "\n".join(lines)


def format_differences(rows: list[dict], pairs: list[tuple[str, str]], datasets: list[str] | None = None) -> str:
    """a − b for each pair, per dataset and on the average: the difference of means and its paired 95% interval;
    'yes' where the interval excludes zero."""
    from .bootstrap import Bootstrap
    rows = distinguish(rows)
    labels = {r["label"] for r in rows}
    for lb in {x for p in pairs for x in p} - labels:
        variants = sorted(x for x in labels if x.startswith(lb + " ["))
        raise BadInput(f"label {lb!r} stands for rows of several identities ({'; '.join(variants)}): they are never "
                       "pooled; compare rows of one identity (e.g. keep one results file per setting)" if variants
                       else f"no rows labelled {lb!r}")
    boot = Bootstrap(rows)
    names = datasets or sorted({r["dataset"] for r in rows})
    lines = [f"{'a − b':<28} {'dataset':<14} {'base':>24} {'novel':>24} {'HM':>24}  HM differs"]
    for a, b in pairs:
        for d in [*names, "average"]:
            diffs = [boot.difference(a, b, d, k) for k in ("base", "novel", "hm")]
            lines.append(f"{a + ' − ' + b:<28} {d:<14} " + " ".join(f"{str(x):>24}" for x in diffs)
                         + f"  {'yes' if diffs[2].excludes_zero() else 'no'}")
    return "\n".join(lines)
