"""The one dataset description (class names, a template, labelled items a `loader` opens) and the protocol's
pure functions, so the real benchmarks and the miniature look alike."""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from PIL import Image

from ..errors import BadInput, MissingData


@dataclass(frozen=True)
class Item:
    source: Any
    label: int


@dataclass(frozen=True)
class ClassificationDataset:
    name: str
    classnames: tuple[str, ...]
    template: str  # hand-crafted prompt with one "{}" for the class name
    train: tuple[Item, ...]
    val: tuple[Item, ...]
    test: tuple[Item, ...]
    loader: Callable[[Any], Image.Image]
    subset: str = "all"  # "all", "base" or "novel"
    meta: str = ""  # anything else that changes the pixels (e.g. the generator's settings), for caching

    def __post_init__(self):
        if len(self.classnames) == 0:
            raise BadInput(f"dataset {self.name!r} has an empty class list")
        if not isinstance(self.template, str) or self.template.count("{}") != 1:
            raise BadInput(f"template {self.template!r} of {self.name!r} needs exactly one '{{}}' for the class name")
        empty = [c for c in self.classnames if not str(c).strip()]
        if empty or len(set(self.classnames)) < len(self.classnames):
            raise BadInput(f"dataset {self.name!r} has {'an empty' if empty else 'a repeated'} class name; class names "
                           "must be distinct and non-empty")

    @property
    def num_classes(self) -> int:
        return len(self.classnames)

    def split(self, name: str) -> tuple[Item, ...]:
        if name not in ("train", "val", "test"):
            raise BadInput(f"unknown split {name!r}; use train, val or test")
        return getattr(self, name)

    def load_image(self, item: Item) -> Image.Image:
        try:
            return self.loader(item.source).convert("RGB")
        except (OSError, SyntaxError, ValueError) as e:  # PIL: truncated, not an image, unreadable
            raise BadInput(f"image {item.source} of {self.name} cannot be read ({type(e).__name__}: {e}); "
                           "replace it with a good copy (or delete it and its entry from the dataset's split "
                           "file), then run again") from e

    def prompts(self, template: str | None = None) -> list[str]:
        t = template or self.template
        return [t.format(c.replace("_", " ")) for c in self.classnames]


def file_stamp(source) -> str:
    if not isinstance(source, (str, os.PathLike)):
        return ""
    try:
        st = os.stat(source)
    except FileNotFoundError:
        raise MissingData(f"image file {source} does not exist; restore it, or remove its entry from the split "
                          "file") from None
    except OSError as e:  # an I/O error, a path through a file, a name too long: the disk's word, on one line
        raise BadInput(f"image file {source} cannot be read ({e.strerror or e}); check the disk and the file's "
                       "permissions, or restore it") from None
    return f"{st.st_size}:{st.st_mtime_ns}"


def num_base_classes(num_classes: int) -> int:
    """CoCoOp's protocol: labels sorted, the first half (rounded up) are base."""
    return math.ceil(num_classes / 2)


def subsample_classes(dataset: ClassificationDataset, subset: str) -> ClassificationDataset:
    """Keep the base or novel classes (or all). Novel labels are re-indexed from 0."""
    if subset == "all":
        return dataset
    if subset not in ("base", "novel"):
        raise BadInput(f"unknown subset {subset!r}; use all, base or novel")
    n = dataset.num_classes
    m = num_base_classes(n)
    if subset == "base" and m < 2:
        raise BadInput(f"dataset {dataset.name!r} has {n} classes: fewer than 2 base classes, "
                         "so base-to-novel training is meaningless")
    keep = list(range(m)) if subset == "base" else list(range(m, n))
    if not keep:
        raise BadInput(f"dataset {dataset.name!r} has no {subset} classes ({n} classes in all)")
    relabel = {old: new for new, old in enumerate(keep)}

    def pick(items):
        return tuple(Item(it.source, relabel[it.label]) for it in items if it.label in relabel)

    return replace(dataset, classnames=tuple(dataset.classnames[i] for i in keep),
                   train=pick(dataset.train), val=pick(dataset.val), test=pick(dataset.test), subset=subset)


def few_shot(items: Sequence[Item], shots: int, seed: int) -> tuple[Item, ...]:
    """`shots` items per class, seeded; a class with fewer keeps all (with a warning)."""
    import random

    if shots <= 0:
        raise BadInput("shots must be positive")
    by_class: dict[int, list[Item]] = {}
    for it in items:
        by_class.setdefault(it.label, []).append(it)
    rng = random.Random(seed)
    out, short = [], []
    for label in sorted(by_class):
        pool = by_class[label]
        if len(pool) < shots:
            short.append((label, len(pool)))
            out += pool
        else:
            out += rng.sample(pool, shots)
    if short:
        warnings.warn(f"{len(short)} class(es) have fewer than {shots} training items; using all of them "
                      f"(label: count) {dict(short[:10])}", stacklevel=2)
    return tuple(out)
