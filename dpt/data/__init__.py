"""Datasets: one interface (`ClassificationDataset`) for the real benchmarks and the offline miniature."""
from __future__ import annotations

import difflib

from .benchmarks import BENCHMARKS, IMAGENET_VARIANTS, load_benchmark
from ..errors import BadInput
from .dataset import ClassificationDataset, Item, check_base_to_novel, check_transfer, few_shot, num_base_classes, subsample_classes
from .miniature import (MINIATURE_CONTROLS, MINIATURE_DATASETS, MINIATURE_DOMAINS, MINIATURE_HELDOUT, MINIATURE_SOURCE,
                        MINIATURE_SPECS,
                        MINIATURE_V2_DATASETS, MINIATURE_V2_DOMAINS, MINIATURE_V2_HELDOUT, MINIATURE_V2_SOURCE,
                        OBJECT_SPECS, load_miniature)

ALL_DATASETS = (*MINIATURE_SPECS, *OBJECT_SPECS, *BENCHMARKS, *IMAGENET_VARIANTS)
# names that stand for several datasets
ALIASES = {"miniature": MINIATURE_DATASETS, "miniature-v2": MINIATURE_V2_DATASETS,
           "miniature-v2-heldout": MINIATURE_V2_HELDOUT, "miniature-v2-domains": MINIATURE_V2_DOMAINS, "miniature-domains": MINIATURE_DOMAINS,
           "miniature-control": MINIATURE_CONTROLS, "miniature-heldout": MINIATURE_HELDOUT, "benchmarks": tuple(BENCHMARKS),
           "imagenet-variants": tuple(IMAGENET_VARIANTS)}


def resolve_dataset_names(names) -> list[str]:
    """Expand the ALIASES ('miniature': the 3 base-to-novel datasets, 'benchmarks': the 11, 'miniature-domains',
    'imagenet-variants'); reject unknown names."""
    out = []
    known = {k.lower(): k for k in (*ALIASES, *ALL_DATASETS)}
    squashed = {k.lower().replace("_", "").replace("-", ""): k for k in (*ALIASES, *ALL_DATASETS)}
    for n in names:
        name = known.get(str(n).lower()) or squashed.get(str(n).lower().replace("_", "").replace("-", ""))
        if name is None:  # names are matched ignoring case, '_' and '-' (dtd, oxford_pets); else a suggestion
            close = difflib.get_close_matches(str(n).lower(), list(known), n=1, cutoff=0.6)
            hint = f"did you mean {known[close[0]]!r}? " if close else ""
            raise BadInput(f"unknown dataset {n!r}; {hint}valid: {', '.join(ALIASES)}, {', '.join(ALL_DATASETS)}")
        out += ALIASES[name] if name in ALIASES else [name]
    return list(dict.fromkeys(out))


def load_dataset(name: str, root=None, download: bool = False) -> ClassificationDataset:
    if name in MINIATURE_SPECS or name in OBJECT_SPECS:
        return load_miniature(name)
    if name in BENCHMARKS or name in IMAGENET_VARIANTS:
        return load_benchmark(name, root, download)
    raise BadInput(f"unknown dataset {name!r}; valid: {', '.join(ALL_DATASETS)}")


def _refusal(name: str, root):
    """The error of a dataset torchvision cannot fetch, as a download request gets it (no download happens)."""
    from ..errors import MissingData
    try:
        load_dataset(name, root, download=True)
    except MissingData as e:
        return e
    raise AssertionError(f"{name} loaded on the second try")  # it was missing a moment ago


def load_datasets(names, root=None, download: bool = False) -> dict[str, ClassificationDataset]:
    """Several datasets by name; every one that is missing is named in one error before any download starts."""
    from ..errors import MissingData
    from .benchmarks import BENCHMARKS as SPECS
    found, missing = {}, {}
    for name in dict.fromkeys(names):
        try:
            found[name] = load_dataset(name, root, download=False)
        except MissingData as e:
            missing[name] = e
    if download and missing and root is not None:
        cannot = {n: e for n, e in missing.items() if not getattr(SPECS.get(n), "downloadable", False)}
        if not cannot:  # every missing one can be downloaded: now, and only now
            found.update({n: load_dataset(n, root, download=True) for n in missing})
        missing = {n: _refusal(n, root) for n in cannot}  # (their message says torchvision cannot fetch them)
    if len(missing) == 1:
        raise next(iter(missing.values()))
    if missing and root is None:
        raise MissingData(f"{', '.join(missing)} need a data root: pass root=DIR pointing at the "
                          "folder that holds the CoOp-style dataset folders, or run on the offline miniature (the "
                          "'miniature' profile).")
    if missing:
        raise MissingData(f"{len(missing)} datasets are not under data root {root}: {', '.join(missing)}; "
                          f"load_dataset(name, root) of one says where to get it, and `python -m dpt data` lists them all")
    return {n: found[n] for n in dict.fromkeys(names)}


__all__ = ["load_datasets", "ClassificationDataset", "check_base_to_novel", "check_transfer", "Item", "few_shot", "num_base_classes", "subsample_classes", "load_dataset",
           "resolve_dataset_names", "load_miniature", "load_benchmark", "MINIATURE_DATASETS", "MINIATURE_DOMAINS", "MINIATURE_SOURCE", "MINIATURE_CONTROLS", "MINIATURE_V2_DATASETS", "MINIATURE_V2_DOMAINS", "MINIATURE_V2_SOURCE", "MINIATURE_V2_HELDOUT", "BENCHMARKS", "IMAGENET_VARIANTS", "ALIASES",
           "ALL_DATASETS"]
