"""Datasets behind one interface (`ClassificationDataset`); the real benchmarks' loaders are the lab's."""
from __future__ import annotations

from typing import Callable

from ..errors import BadInput
from .dataset import ClassificationDataset, Item, few_shot, num_base_classes, subsample_classes
from .miniature import (MINIATURE_CONTROLS, MINIATURE_DATASETS, MINIATURE_DOMAINS, MINIATURE_HELDOUT, MINIATURE_SOURCE,
                        MINIATURE_SPECS,
                        MINIATURE_V2_DATASETS, MINIATURE_V2_DOMAINS, MINIATURE_V2_HELDOUT, MINIATURE_V2_SOURCE,
                        OBJECT_SPECS, load_miniature)

LOADERS: dict[str, Callable] = {}  # name -> load(name, root, download) of each dataset outside the miniature


def load_dataset(name: str, root=None, download: bool = False) -> ClassificationDataset:
    if name in MINIATURE_SPECS or name in OBJECT_SPECS:
        return load_miniature(name)
    if name in LOADERS:
        return LOADERS[name](name, root, download)
    raise BadInput(f"unknown dataset {name!r}; valid: {', '.join([*MINIATURE_SPECS, *OBJECT_SPECS, *LOADERS])}"
                   + ("" if LOADERS else " (the real benchmarks load once the lab is imported: import dpt.experiments)"))


__all__ = ["ClassificationDataset", "Item", "few_shot", "num_base_classes", "subsample_classes", "load_dataset",
           "load_miniature", "LOADERS", "MINIATURE_DATASETS", "MINIATURE_DOMAINS",
           "MINIATURE_SOURCE", "MINIATURE_CONTROLS", "MINIATURE_HELDOUT", "MINIATURE_V2_DATASETS",
           "MINIATURE_V2_DOMAINS", "MINIATURE_V2_SOURCE", "MINIATURE_V2_HELDOUT"]
