"""Figures shared by the docs and the notebooks (each saved under figures/)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg") if matplotlib.get_backend().lower() == "agg" else None
import matplotlib.pyplot as plt  # noqa: E402


# One colour per method, the same in every figure: seaborn's "colorblind" palette (ten hues told apart with the
# common colour-vision deficiencies; no red/green pair), zero-shot in grey.
METHOD_ORDER = ("zeroshot", "coop", "coop_ensemble", "cocoop", "kgcoop", "prograd", "ivlp", "maple", "promptsrc", "dpt")
METHOD_COLOURS = dict(zip(METHOD_ORDER, ("#949494", "#0173b2", "#56b4e9", "#cc78bc", "#029e73", "#ece133", "#ca9161",
                                         "#fbafe4", "#de8f05", "#d55e00")))
MARKERS = {"base": "o", "novel": "^"}  # base and novel told apart by marker wherever both are drawn


# names · what a learner reads for a stored run's label in tables, legends and axes (re-exported as course.name);
# callers still select runs by the label itself
NAMES = {
    "zeroshot": "zero-shot CLIP", "coop": "CoOp", "coop_ensemble": "CoOp with the soft/hand mix", "cocoop": "CoCoOp",
    "kgcoop": "KgCoOp", "prograd": "ProGrad", "ivlp": "IVLP", "maple": "MaPLe", "promptsrc": "PromptSRC", "dpt": "dpt",
    # dpt's variants (notebooks 05 and 07): one change each, everything else kept
    "no_mi": "dpt without the MI term", "no_mixup": "dpt without mixup",
    "no_mi_no_mixup": "dpt without the MI term or mixup", "mixup_within": "dpt, mixup within a class",
    "mixup_not_in_mi": "dpt, mixed pairs not in the MI term", "mi_nwj": "dpt, NWJ bound",
    "mi_dv": "dpt, Donsker-Varadhan bound", "mi_jsd": "dpt, JSD bound", "critic_separable": "dpt, separable critic",
    "mi_alignment": "dpt, positive term only", "no_ensemble": "dpt, soft view only at inference",
    "dpt_hand_ensemble": "dpt, template ensemble as the hand view",
}


def name(label: str) -> str:
    """The display name of a stored run's label: NAMES, '<name>, tuned on validation' for '<label>_tuned',
    'dpt, MI weight w' for 'mi_weight_<w>', a ' [...]' suffix kept; an unknown label is shown as it is."""
    label = str(label)
    if " [" in label:
        head, _, rest = label.partition(" [")
        return f"{name(head)} [{rest}"
    if label in NAMES:
        return NAMES[label]
    if label.endswith("_tuned"):
        return f"{name(label[:-len('_tuned')])}, tuned on validation"
    if label.startswith("mi_weight_"):
        return f"dpt, MI weight {label[len('mi_weight_'):]}"
    return label


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
        from .writers import save_figure
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


def method_diagram():
    """The dual-view method as a picture: which tensors flow where, which parts are frozen (grey) and which are
    learned (orange); no two arrows cross. Notebook 00 defines every symbol before it shows it."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    frozen, learned, tensor, loss, mix = "#d9d9d9", "#e69f00", "#ffffff", "#a6cee3", "#f0e442"  # Okabe-Ito hues
    fig, ax = plt.subplots(figsize=(11.5, 5.7))
    ax.set(xlim=(0, 11.6), ylim=(0, 5.7))
    ax.axis("off")

    def box(x, y, w, h, text, colour, size=8.5):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="k", lw=0.8))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size)

    def arrow(a, b, text="", dx=0.0, dy=0.1):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=11, lw=0.9, color="k",
                                     shrinkA=2, shrinkB=2))
        if text:
            ax.text((a[0] + b[0]) / 2 + dx, (a[1] + b[1]) / 2 + dy, text, ha="center", fontsize=7.5, style="italic")

    # three rows, left to right: an input, a frozen encoder, its output
    rows = ((4.4, "image x\n(a few shots\nper base class)", tensor, "image encoder\n(frozen)", "image\nfeature f"),
            (2.75, "soft prompt\n[v₁ … v_M] [class name]\n(learned context v)", learned, "text encoder\n(frozen)",
             "soft view\nt_soft,c"),
            (1.1, "hand-crafted prompt\n\"a photo of a {class}.\"", tensor, "text encoder\n(frozen, run once)",
             "hand view\nt_hand,c"))
    h = 0.7
    for y, given, colour, encoder, output in rows:
        box(0.1, y - 0.05, 1.9, h + 0.1, given, colour, 8)
        box(2.45, y, 1.5, h, encoder, frozen)
        box(4.35, y, 1.0, h, output, tensor, 8)
        arrow((2.0, y + h / 2), (2.45, y + h / 2))
        arrow((3.95, y + h / 2), (4.35, y + h / 2))
    # top row: mixup, then the classification loss
    box(5.8, 4.4, 1.75, h, "class-wise mixup\nf̃ ∝ λ·f_i + (1 − λ)·f_j", mix, 8)
    box(8.0, 4.4, 1.6, h, "cross-entropy\non f and f̃", loss)
    box(10.0, 4.4, 1.3, h, "L = CE\n − w_MI · Î", loss, 9)
    arrow((5.35, 4.75), (5.8, 4.75))
    arrow((7.55, 4.75), (8.0, 4.75))
    arrow((9.6, 4.75), (10.0, 4.75))
    arrow((5.35, 3.3), (8.5, 4.4), "classes to score", dx=0.55, dy=-0.05)
    # middle: the two views into the critic, its estimate into the loss
    box(8.0, 1.75, 1.6, 0.8, "critic g\n(learned)", learned)
    box(10.0, 1.75, 1.3, 0.8, "InfoNCE Î:\nMI estimate\n(+ mixed pairs)", loss)
    # 00 · the mixed pairs come from the mixup box (same λ): routed over the top and down the right edge, crossing nothing
    ax.plot([6.675, 6.675, 11.5, 11.5], [5.15, 5.4, 5.4, 2.15], color="k", lw=0.9, ls="--")
    ax.add_patch(FancyArrowPatch((11.5, 2.15), (11.37, 2.15), arrowstyle="-|>", mutation_scale=11, lw=0.9, color="k"))
    ax.text(9.1, 5.46, "the two views mixed with the same λ: mixed pairs", ha="center", fontsize=7.5, style="italic")
    arrow((5.35, 2.95), (8.0, 2.3), "view 1", dx=-0.3, dy=0.08)
    arrow((5.35, 1.45), (8.0, 2.0), "view 2", dx=-0.3, dy=-0.25)
    arrow((9.6, 2.15), (10.0, 2.15))
    arrow((10.65, 2.55), (10.65, 4.4))
    # inference
    box(6.2, 0.1, 5.2, 0.95, "at test time, for any class names (base or novel):\n"
        "soft/hand mix: normalise((1 − w_ens)·t_soft,c + w_ens·t_hand,c)\n(the critic and mixup are not used)", "#f0f0f0", 8)
    # legend
    for i, (c, t) in enumerate(((frozen, "frozen (CLIP)"), (learned, "learned"), (loss, "loss terms"),
                                (tensor, "inputs and features"), (mix, "class-wise mixup"))):  # 00 · mixup's hue too
        ax.add_patch(FancyBboxPatch((0.15 + 2.0 * (i % 3), 0.62 - 0.4 * (i // 3)), 0.25, 0.22,
                                    boxstyle="round,pad=0.02", fc=c, ec="k", lw=0.6))
        ax.text(0.5 + 2.0 * (i % 3), 0.73 - 0.4 * (i // 3), t, va="center", fontsize=8)
    ax.set_title("Dual-view prompt tuning: what flows where, what is learned", fontsize=11)
    return fig
