"""Figures shared by the docs and the notebooks (each saved under figures/)."""
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


def fit_axes(ax, xs, ys, pad: float = 3.0, top: float = 101.5):
    """Axis limits that show every point whole, with a margin (accuracies: the frame stops just past 100, so a
    point at 100 is not cut), then the labels of any lines of equal HM (placed where the frame shows them)."""
    xs, ys = list(xs), list(ys)
    ax.set_xlim(min(xs) - pad, min(top, max(xs) + pad))
    ax.set_ylim(min(ys) - pad, min(top, max(ys) + pad))
    label_hm_isolines(ax)


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
    """Lines of equal harmonic mean in the (base, novel) plane: novel = h b / (2b - h). Their labels come once
    the axis limits are set (fit_axes, or label_hm_isolines)."""
    import numpy as np
    for h in levels:
        b = np.linspace(h / 2 + 0.5, 100, 300)
        n = h * b / (2 * b - h)
        ok = n <= 100
        ax.plot(b[ok], n[ok], color="0.8", lw=0.8, zorder=0)
    ax._hm_levels = tuple(levels)


def label_hm_isolines(ax) -> None:
    """Label each line of equal HM where it enters the frame at its top-left, on a white patch above the points,
    so no point hides a label and no label is cut by the frame."""
    levels = getattr(ax, "_hm_levels", ())
    for t in getattr(ax, "_hm_labels", []):
        t.remove()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    ax._hm_labels = []
    for h in levels:
        # the curve's top-left visible point: where it leaves the top edge, else where it crosses the left edge
        b = max(x0, h * y1 / (2 * y1 - h) if 2 * y1 > h else x1 + 1)
        n = h * b / (2 * b - h) if 2 * b > h else y1 + 1
        if not (x0 <= b <= x1 and y0 <= n <= y1):
            continue
        inset_x, inset_y = 0.01 * (x1 - x0), 0.015 * (y1 - y0)  # inside the frame, clear of its edges
        right = b > x1 - 0.12 * (x1 - x0)  # near the right edge the label hangs to the left of its line
        ax._hm_labels.append(ax.text(b - inset_x if right else b + inset_x, min(n, y1) - inset_y, f"HM {h}", fontsize=8,
                                     color="0.4", ha="right" if right else "left", va="top", zorder=5,
                                     bbox=dict(fc="white", ec="none", alpha=0.85, pad=0.5)))


# The trade-off figure's rows: text-prompt methods, then the methods with prompts in both towers (dpt in
# both rows, as the reference).
TRADEOFF_ROWS = (("coop", "coop_ensemble", "kgcoop", "prograd", "dpt"), ("ivlp", "maple", "promptsrc", "dpt"))


def tradeoff_curves(rows: list[dict], tuning: dict, datasets: list[str], zero_shot: dict | None = None,
                    groups=TRADEOFF_ROWS):
    """Base against novel accuracy (val, mean over seeds) as each method's knob sweeps, one panel per dataset
    and the average, with the lines of equal HM; the chosen value ringed. rows: the tuner's val runs;
    tuning: its {method: choice} record; zero_shot: {dataset: (base, novel)} drawn as a star; groups: the
    methods of each block of panels, one block (a subfigure with its own legend) per group; those not in `tuning`
    are left out."""
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
    cols = 2  # two panels a row, so the labels are read at their size wherever the figure is shown
    per = -(-len(panels) // cols)
    fig = plt.figure(figsize=(5.2 * cols, (4.6 * per + 0.9) * len(groups)), layout="constrained")
    for sub, group in zip(fig.subfigures(len(groups), 1, squeeze=False)[:, 0], groups):
        block = sub.subplots(per, cols, squeeze=False).ravel()
        for ax, d in zip(block, panels):
            _tradeoff_panel(ax, d, {m: tuning[m] for m in group}, table, zero_shot)
            ax.set_ylabel("novel accuracy (val, %)")
        for ax in block[len(panels):]:
            ax.axis("off")
        # the block's legend under its panels, so it covers no point of any of them
        sub.legend(*block[len(panels) - 1].get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=9,
                   frameon=False)
    fig.suptitle("Trade-off curves: each method's knob swept over the same six-value budget\n"
                 "(square: the first value of the legend's range; ring: the value chosen on val HM)", fontsize=11)
    return fig


def _tradeoff_panel(ax, d, tuning, table, zero_shot):
    hm_isolines(ax)
    xs, ys = [], []
    for method, choice in tuning.items():
        pts = [table[e["label"], d] for e in choice["val"] if (e["label"], d) in table]
        colour = METHOD_COLOURS.get(method, "k")
        first, last = choice["val"][0]["value"], choice["val"][-1]["value"]
        tied = "".join(f", {name} ×{ratio:g}" for name, ratio in choice.get("tied", {}).items())
        ax.plot([p["base"] for p in pts], [p["novel"] for p in pts], "o-", ms=3.5, lw=1.2, color=colour,
                label=f"{method} ({choice['knob']} {first:g} → {last:g}{tied})")
        ax.plot([pts[0]["base"]], [pts[0]["novel"]], "s", ms=6, color=colour, zorder=4)  # the curve's first value
        xs += [p["base"] for p in pts]
        ys += [p["novel"] for p in pts]
        best = next(table[e["label"], d] for e in choice["val"] if e["value"] == choice["chosen"])
        ax.scatter([best["base"]], [best["novel"]], s=90, facecolor="none", edgecolor=colour, lw=1.5, zorder=3)
    if zero_shot and d in zero_shot:
        ax.scatter(*zero_shot[d], marker="*", s=140, color=METHOD_COLOURS["zeroshot"], edgecolor="k", lw=0.5, zorder=7,
                   label="zeroshot")  # on top of any ring
        xs.append(zero_shot[d][0]), ys.append(zero_shot[d][1])
    ax.set(title=d, xlabel="base accuracy (val, %)")
    if xs:
        fit_axes(ax, xs, ys, pad=4.0)


def method_diagram():
    """The dual-view method as a picture: which tensors flow where, which parts are frozen (grey) and which are
    learned (orange). Notebook 00 and docs/method.md show it."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    frozen, learned, tensor, loss = "#d9d9d9", "#fdae6b", "#ffffff", "#c6dbef"
    fig, ax = plt.subplots(figsize=(11, 5.6))
    ax.set(xlim=(0, 11), ylim=(0, 5.6))
    ax.axis("off")

    def box(x, y, w, h, text, colour, size=9, style="round,pad=0.05"):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, fc=colour, ec="k", lw=0.8))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size)

    def arrow(a, b, text="", dx=0.0, dy=0.12):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=11, lw=0.9, color="k",
                                     shrinkA=2, shrinkB=2))
        if text:
            ax.text((a[0] + b[0]) / 2 + dx, (a[1] + b[1]) / 2 + dy, text, ha="center", fontsize=8, style="italic")

    # three rows, left to right: an input, a frozen encoder, its output
    rows = ((4.55, 0.6, "image x\n(few shots per base class)", tensor, "image encoder\n(frozen)", "f\nimage feature"),
            (2.8, 0.65, "soft prompt\n[v₁ … v_M] [class name]\n(v: learned context)", learned, "text encoder\n(frozen)",
             "t_soft,c\nper class"),
            (1.0, 0.6, "hand-crafted prompt\n\"a photo of a {class}.\"", tensor, "text encoder\n(frozen, once)",
             "t_hand,c\nper class"))
    for y, h, given, colour, encoder, output in rows:
        box(0.1, y - 0.05, 1.9, h + 0.1, given, colour, 8)
        box(2.6, y, 1.7, h, encoder, frozen)
        box(4.9, y, 1.2, h, output, tensor, 8)
        arrow((2.0, y + h / 2), (2.6, y + h / 2))
        arrow((4.3, y + h / 2), (4.9, y + h / 2))
    # class-wise mixup
    box(4.75, 3.75, 1.5, 0.5, "class-wise mixup\nf̃: two classes mixed", "#fff7bc", 7.5)
    arrow((5.5, 4.55), (5.5, 4.25))
    # losses
    box(7.0, 4.55, 1.9, 0.6, "CE on s · cos(f, t_soft,c)\n+ CE on mixed f̃, soft ỹ", loss, 8)
    box(7.0, 1.9, 1.9, 0.75, "critic g(t_soft, t_hand)\n(learned, own optimiser)", learned, 8)
    box(9.3, 1.9, 1.55, 0.75, "InfoNCE Î\nover class pairs\n+ mixed pairs", loss, 8)
    box(9.3, 4.55, 1.55, 0.6, "L = CE + CE_mix\n − w_MI · Î", loss, 8.5)
    arrow((6.1, 4.85), (7.0, 4.85))
    arrow((6.25, 4.0), (7.0, 4.6))
    arrow((6.1, 3.2), (7.0, 4.6))
    arrow((6.1, 3.0), (7.0, 2.45), "view 1", dy=0.1)
    arrow((6.1, 1.3), (7.0, 2.1), "view 2", dy=-0.25)
    arrow((6.25, 3.85), (7.0, 2.6), "ỹ: mixed pairs", dx=0.62, dy=0.02)
    arrow((8.9, 2.27), (9.3, 2.27))
    arrow((8.9, 4.85), (9.3, 4.85))
    arrow((10.07, 2.65), (10.07, 4.55))
    # inference
    box(6.6, 0.15, 4.3, 0.95, "at test time, for any class names (base or novel):\n"
        "class feature (1 − w_ens)·t_soft,c + w_ens·t_hand,c\n(the critic and mixup are not used)", "#f0f0f0", 8)
    # legend
    for i, (c, t) in enumerate(((frozen, "frozen (CLIP)"), (learned, "learned"), (loss, "loss terms"),
                                (tensor, "inputs and features"))):
        ax.add_patch(FancyBboxPatch((0.15 + 1.6 * (i % 2), 0.5 - 0.35 * (i // 2)), 0.25, 0.22,
                                    boxstyle="round,pad=0.02", fc=c, ec="k", lw=0.6))
        ax.text(0.5 + 1.6 * (i % 2), 0.61 - 0.35 * (i // 2), t, va="center", fontsize=8)
    ax.set_title("Dual-view prompt tuning: what flows where, what is learned", fontsize=11)
    return fig
