"""Datasets: one interface (`ClassificationDataset`) for the real benchmarks and the offline miniature."""
from __future__ import annotations

from .benchmarks import BENCHMARKS, load_benchmark
from ..errors import BadInput
from .dataset import ClassificationDataset, Item, check_base_to_novel, few_shot, num_base_classes, subsample_classes
from .miniature import MINIATURE_DATASETS, load_miniature

ALL_DATASETS = (*MINIATURE_DATASETS, *BENCHMARKS)


def resolve_dataset_names(names) -> list[str]:
    """Expand 'miniature' (all miniature datasets) and 'benchmarks' (all 11); reject unknown names."""
    out = []
    for n in names:
        if n == "miniature":
            out += MINIATURE_DATASETS
        elif n == "benchmarks":
            out += list(BENCHMARKS)
        elif n in ALL_DATASETS:
            out.append(n)
        else:
            raise BadInput(f"unknown dataset {n!r}; valid: miniature, benchmarks, {', '.join(ALL_DATASETS)}")
    return list(dict.fromkeys(out))


def load_dataset(name: str, root=None, download: bool = False) -> ClassificationDataset:
    if name in MINIATURE_DATASETS:
        return load_miniature(name)
    if name in BENCHMARKS:
        return load_benchmark(name, root, download)
    raise BadInput(f"unknown dataset {name!r}; valid: {', '.join(ALL_DATASETS)}")


__all__ = ["ClassificationDataset", "check_base_to_novel", "Item", "few_shot", "num_base_classes", "subsample_classes", "load_dataset",
           "resolve_dataset_names", "load_miniature", "load_benchmark", "MINIATURE_DATASETS", "BENCHMARKS",
           "ALL_DATASETS"]
