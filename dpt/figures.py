"""Figures shared by the README and the notebooks (each saved under figures/)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg") if matplotlib.get_backend().lower() == "agg" else None
import matplotlib.pyplot as plt  # noqa: E402


# One colour per method, the same in every figure (seaborn's colorblind palette).
METHOD_ORDER = ("zeroshot", "coop", "cocoop", "kgcoop", "prograd", "ivlp", "maple", "promptsrc", "dpt")
METHOD_COLOURS = dict(zip(METHOD_ORDER, ("#949494", "#0173b2", "#56b4e9", "#029e73", "#cc78bc", "#ca9161", "#fbafe4",
                                         "#ece133", "#d55e00")))


def world_gallery(path: str | Path | None = "figures/world.png", per_dataset: int = 8, names=None,
                  title: str = "ShapeWorld: the offline miniature's three downstream datasets (test images)"):
    """A row of test images per miniature dataset (default: the three base-to-novel ones), titled with
    their class names."""
    from .data import MINIATURE_DATASETS, load_miniature

    names = list(names or MINIATURE_DATASETS)
    fig, axes = plt.subplots(len(names), per_dataset, figsize=(1.6 * per_dataset, 1.9 * len(names)))
    for r, name in enumerate(names):
        ds = load_miniature(name)
        step = len(ds.test) // per_dataset
        for c in range(per_dataset):
            item = ds.test[c * step + c % 3]
            ax = axes[r, c]
            ax.imshow(ds.load_image(item), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(ds.classnames[item.label], fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{name}\n“{ds.template}”", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig
