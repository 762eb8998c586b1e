"""Tables from result rows: mean and std over seeds per (label, dataset), and each label's average."""
from __future__ import annotations

import statistics


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and std over seeds per (label, dataset), plus each label's average over datasets."""
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
        avg = {"label": label, "dataset": "average", "n": len(per)}
        for k in ("base", "novel"):
            avg[k] = statistics.fmean(s[k] for s in per)
            avg[k + "_std"] = statistics.fmean(s[k + "_std"] for s in per)
        avg["hm"] = 2 * avg["base"] * avg["novel"] / max(1e-9, avg["base"] + avg["novel"])
        avg["hm_std"] = statistics.fmean(s["hm_std"] for s in per)
        out.append(avg)
    return out


def format_table(summary: list[dict]) -> str:
    w = max([10, *(len(s["label"]) for s in summary)])
    lines = [f"{'method':<{w}} {'dataset':<14} {'base':>13} {'novel':>13} {'HM':>13}"]
    for s in sorted(summary, key=lambda s: (s["dataset"] == "average", s["dataset"], s["label"])):
        cells = [f"{s[k]:6.2f} ± {s[k + '_std']:4.2f}" for k in ("base", "novel", "hm")]
        lines.append(f"{s['label']:<{w}} {s['dataset']:<14} " + " ".join(f"{c:>13}" for c in cells))
    return "\n".join(lines)
