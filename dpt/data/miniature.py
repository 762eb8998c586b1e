"""Downstream classification datasets drawn from ShapeWorld (the offline miniature benchmark).

Each dataset has its own label vocabulary, rendering style and hand-crafted template, and the same
`ClassificationDataset` interface as the real benchmarks. The design puts real prompt-tuning levers
in each task (see README, "The miniature"):

* mini_shapes: 24 shapes drawn as *sketches*. The template says "a photo of"; captions in
  pretraining name the style, so a learned context can find "sketch" and the template cannot.
* mini_toys: 40 colour-shape toys photographed among *small distractors*. "a photo of a red star"
  also matches a small red star in the corner; a learned context can find "big".
* mini_paints: 24 light/dark colours in *pixel art*, any shape: fine-grained colour naming in a
  style the template does not mention.

Labels are the alphabetically sorted class names, as in the real benchmarks, so the base/novel
split (first half base) falls where the alphabet puts it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .dataset import ClassificationDataset, Item
from .world import COLOURS, SHAPES, SceneSampler, render

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class MiniatureSpec:
    name: str
    seed: int
    classes: dict[str, dict]  # class name -> attributes fixed for the main object
    template: str
    sampler: SceneSampler
    per_class: dict[str, int] = field(default_factory=lambda: {"train": 24, "val": 12, "test": 40})


def _toy_classes(n: int = 40, seed: int = 7) -> dict[str, dict]:
    rng = np.random.default_rng(seed)
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    chosen = rng.choice(len(pairs), size=n, replace=False)
    return {f"{pairs[i][0]} {pairs[i][1]}": {"colour": pairs[i][0], "shape": pairs[i][1], "shade": "plain"}
            for i in chosen}


MINIATURE_SPECS: dict[str, MiniatureSpec] = {
    "mini_shapes": MiniatureSpec(
        name="mini_shapes", seed=101,
        classes={s: {"shape": s} for s in SHAPES},
        template="a photo of a {}.",
        sampler=SceneSampler(styles=("sketch",), shades=("plain",), shade_p=None, sizes=("big",),
                             max_distractors=1, p_distractor=0.3),
    ),
    "mini_toys": MiniatureSpec(
        name="mini_toys", seed=202,
        classes=_toy_classes(),
        template="a photo of a {}.",
        sampler=SceneSampler(styles=("photo",), shades=("plain",), shade_p=None, sizes=("big",),
                             max_distractors=2, p_distractor=0.8),
    ),
    "mini_paints": MiniatureSpec(
        name="mini_paints", seed=303,
        classes={f"{shade} {c}": {"colour": c, "shade": shade} for c in COLOURS for shade in ("light", "dark")},
        template="a photo of a {} object.",
        sampler=SceneSampler(styles=("pixel",), sizes=("big",), max_distractors=1, p_distractor=0.3),
    ),
}
MINIATURE_DATASETS = tuple(MINIATURE_SPECS)


def scene_for(spec: MiniatureSpec, split: str, index: int, classname: str):
    rng = np.random.default_rng([spec.seed, SPLIT_IDS[split], index])
    return spec.sampler.sample(rng, **spec.classes[classname])


def _load(source, spec: MiniatureSpec):
    _, split, index, classname = source
    return render(scene_for(spec, split, index, classname))


def load_miniature(name: str, per_class: dict[str, int] | None = None) -> ClassificationDataset:
    """A miniature dataset by name; `per_class` overrides the number of items per class and split."""
    if name not in MINIATURE_SPECS:
        raise ValueError(f"unknown miniature dataset {name!r}; valid: {', '.join(MINIATURE_DATASETS)}")
    spec = MINIATURE_SPECS[name]
    counts = {**spec.per_class, **(per_class or {})}
    classnames = tuple(sorted(spec.classes))
    splits = {}
    for split, n in counts.items():
        items, index = [], 0
        for label, cname in enumerate(classnames):
            for _ in range(n):
                items.append(Item((name, split, index, cname), label))
                index += 1
        splits[split] = tuple(items)
    return ClassificationDataset(name=name, classnames=classnames, template=spec.template,
                                 loader=partial(_load, spec=spec), meta=repr(spec), **splits)
