"""Figures shared by the README and the notebooks (each saved under figures/)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg") if matplotlib.get_backend().lower() == "agg" else None
import matplotlib.pyplot as plt  # noqa: E402


def world_gallery(path: str | Path | None = "figures/world.png", per_dataset: int = 8):
    """A row of test images per miniature dataset, titled with their class names."""
    from .data import MINIATURE_DATASETS, load_miniature

    fig, axes = plt.subplots(len(MINIATURE_DATASETS), per_dataset, figsize=(1.6 * per_dataset, 1.9 * len(MINIATURE_DATASETS)))
    for r, name in enumerate(MINIATURE_DATASETS):
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
    fig.suptitle("ShapeWorld: the offline miniature's three downstream datasets (test images)", fontsize=10)
    fig.tight_layout()
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig
