"""Figures shared by the README and the notebooks (each saved under figures/)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg") if matplotlib.get_backend().lower() == "agg" else None
import matplotlib.pyplot as plt  # noqa: E402


# One colour per method, the same in every figure: matplotlib's tab10, ten hues no two of which are close
# (the CoOp family's blue and cyan, dpt alone in red).
METHOD_ORDER = ("zeroshot", "coop", "coop_ensemble", "cocoop", "kgcoop", "prograd", "ivlp", "maple", "promptsrc", "dpt")
METHOD_COLOURS = dict(zip(METHOD_ORDER, ("#7f7f7f", "#1f77b4", "#17becf", "#9467bd", "#2ca02c", "#bcbd22", "#8c564b",
                                         "#e377c2", "#ff7f0e", "#d62728")))
MARKERS = {"base": "o", "novel": "^"}  # base and novel told apart by marker wherever both are drawn


def fit_axes(ax, xs, ys, pad: float = 3.0, top: float = 100.5):
    """Axis limits that show every point with a margin (accuracies: never past 100)."""
    xs, ys = list(xs), list(ys)
    ax.set_xlim(min(xs) - pad, min(top, max(xs) + pad))
    ax.set_ylim(min(ys) - pad, min(top, max(ys) + pad))


def world_gallery(path: str | Path | None = "figures/world.png", per_dataset: int = 8, names=None,
                  title: str = "ShapeWorld: the offline miniature's three downstream datasets (test images)"):
    """A row of test images per miniature dataset (default: the three base-to-novel ones), titled with
    their class names."""
    from ..data import MINIATURE_DATASETS, load_miniature
    return dataset_gallery([load_miniature(n) for n in names or MINIATURE_DATASETS], path, per_dataset, title)


def dataset_gallery(datasets, path: str | Path | None = None, per_dataset: int = 8, title: str = ""):
    """A row of test images per dataset (any ClassificationDataset, miniature or real), titled with their class
    names and labelled with the dataset's template."""
    fig, axes = plt.subplots(len(datasets), per_dataset, figsize=(1.6 * per_dataset, 1.9 * len(datasets)),
                             squeeze=False)
    for r, ds in enumerate(datasets):
        step = max(1, len(ds.test) // per_dataset)
        for c in range(per_dataset):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c * step >= len(ds.test):
                ax.axis("off")
                continue
            item = ds.test[min(c * step + c % 3, len(ds.test) - 1)]
            ax.imshow(ds.load_image(item), interpolation="nearest")
            ax.set_title(ds.classnames[item.label], fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{ds.name}\n“{ds.template}”", fontsize=8)
    fig.suptitle(title or f"{', '.join(ds.name for ds in datasets)}: test images", fontsize=10)
    fig.tight_layout()
    if path:
        from ..files import save_figure
        save_figure(fig, Path(path), dpi=110)
    return fig


def hm_isolines(ax, levels=(50, 60, 70, 80, 90)):
    """Lines of equal harmonic mean in the (base, novel) plane: novel = h b / (2b - h)."""
    import numpy as np
    for h in levels:
        b = np.linspace(h / 2 + 0.5, 100, 300)
        n = h * b / (2 * b - h)
        ok = n <= 100
        ax.plot(b[ok], n[ok], color="0.8", lw=0.8, zorder=0)
        ax.text(100, h * 100 / (200 - h), f"HM {h}", fontsize=8, color="0.5", va="bottom", ha="right", clip_on=True)


# The trade-off figure's rows: text-prompt methods, then the methods with prompts in both towers (dpt in
# both rows, as the reference).
TRADEOFF_ROWS = (("coop", "coop_ensemble", "kgcoop", "prograd", "dpt"), ("ivlp", "maple", "promptsrc", "dpt"))


def tradeoff_curves(rows: list[dict], tuning: dict, datasets: list[str], zero_shot: dict | None = None,
                    groups=TRADEOFF_ROWS):
    """Base against novel accuracy (val, mean over seeds) as each method's knob sweeps, one panel per dataset
    and the average, with the lines of equal HM; the chosen value ringed. rows: the tuner's val runs;
    tuning: its {method: choice} record; zero_shot: {dataset: (base, novel)} drawn as a star; groups: the
    methods of each row of panels (those not in `tuning` are left out)."""
    from .summary import summarise
    table = {(s["label"], s["dataset"]): s for s in summarise(rows, intervals=False)}
    panels = [*datasets, "average"]
    groups, shown = [[m for m in g if m in tuning] for g in groups], set()
    kept = []
    for g in groups:  # a row whose methods all appear in an earlier row (dpt alone, the reference) is dropped
        if set(g) - shown:
            kept.append(g)
            shown |= set(g)
    groups = kept
    fig, axes = plt.subplots(len(groups), len(panels), figsize=(4.4 * len(panels), 4.4 * len(groups)),
                             squeeze=False)
    for group, row in zip(groups, axes):
        for ax, d in zip(row, panels):
            _tradeoff_panel(ax, d, {m: tuning[m] for m in group}, table, zero_shot)
        row[0].set_ylabel("novel accuracy (val, %)")
        row[0].legend(fontsize=8, loc="best")
    fig.suptitle("Trade-off curves: each method's knob swept over the same six-value budget (ring: chosen on val HM)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _tradeoff_panel(ax, d, tuning, table, zero_shot):
    hm_isolines(ax)
    xs, ys = [], []
    for method, choice in tuning.items():
        pts = [table[e["label"], d] for e in choice["val"] if (e["label"], d) in table]
        colour = METHOD_COLOURS.get(method, "k")
        knob = " & ".join([choice["knob"], *choice.get("tied", {})])
        ax.plot([p["base"] for p in pts], [p["novel"] for p in pts], "o-", ms=3.5, lw=1.2, color=colour,
                label=f"{method} ({knob})")
        xs += [p["base"] for p in pts]
        ys += [p["novel"] for p in pts]
        for p, value, off in ((pts[0], choice["val"][0]["value"], (-4, 5)), (pts[-1], choice["val"][-1]["value"], (4, -9))):
            ax.annotate(f"{value:g}", (p["base"], p["novel"]), xytext=off, textcoords="offset points", fontsize=8,
                        color=colour)
        best = next(table[e["label"], d] for e in choice["val"] if e["value"] == choice["chosen"])
        ax.scatter([best["base"]], [best["novel"]], s=90, facecolor="none", edgecolor=colour, lw=1.5, zorder=3)
    if zero_shot and d in zero_shot:
        ax.scatter(*zero_shot[d], marker="*", s=120, color=METHOD_COLOURS["zeroshot"], zorder=3, label="zeroshot")
        xs.append(zero_shot[d][0]), ys.append(zero_shot[d][1])
    ax.set(title=d, xlabel="base accuracy (val, %)")
    if xs:
        fit_axes(ax, xs, ys)
