"""Datasets: one interface (`ClassificationDataset`) for the real benchmarks and the offline miniature."""
from __future__ import annotations

from .benchmarks import BENCHMARKS, IMAGENET_VARIANTS, load_benchmark
from ..errors import BadInput
from .dataset import ClassificationDataset, Item, check_base_to_novel, check_transfer, few_shot, num_base_classes, subsample_classes
from .miniature import MINIATURE_CONTROLS, MINIATURE_DATASETS, MINIATURE_DOMAINS, MINIATURE_SOURCE, MINIATURE_SPECS, load_miniature

ALL_DATASETS = (*MINIATURE_SPECS, *BENCHMARKS, *IMAGENET_VARIANTS)
# names that stand for several datasets
ALIASES = {"miniature": MINIATURE_DATASETS, "miniature-domains": MINIATURE_DOMAINS,
           "miniature-control": MINIATURE_CONTROLS, "benchmarks": tuple(BENCHMARKS),
           "imagenet-variants": tuple(IMAGENET_VARIANTS)}


def resolve_dataset_names(names) -> list[str]:
    """Expand the ALIASES ('miniature': the 3 base-to-novel datasets, 'benchmarks': the 11, 'miniature-domains',
    'imagenet-variants'); reject unknown names."""
    out = []
    for n in names:
        if n in ALIASES:
            out += ALIASES[n]
        elif n in ALL_DATASETS:
            out.append(n)
        else:
            raise BadInput(f"unknown dataset {n!r}; valid: {', '.join(ALIASES)}, {', '.join(ALL_DATASETS)}")
    return list(dict.fromkeys(out))


def load_dataset(name: str, root=None, download: bool = False) -> ClassificationDataset:
    if name in MINIATURE_SPECS:
        return load_miniature(name)
    if name in BENCHMARKS or name in IMAGENET_VARIANTS:
        return load_benchmark(name, root, download)
    raise BadInput(f"unknown dataset {name!r}; valid: {', '.join(ALL_DATASETS)}")


__all__ = ["ClassificationDataset", "check_base_to_novel", "check_transfer", "Item", "few_shot", "num_base_classes", "subsample_classes", "load_dataset",
           "resolve_dataset_names", "load_miniature", "load_benchmark", "MINIATURE_DATASETS", "MINIATURE_DOMAINS", "MINIATURE_SOURCE", "MINIATURE_CONTROLS", "BENCHMARKS", "IMAGENET_VARIANTS", "ALIASES",
           "ALL_DATASETS"]
