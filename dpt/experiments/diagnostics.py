"""Why a miniature does or does not behave like CLIP: three diagnostics per base-to-novel dataset.

1. headroom: a 16-shot linear probe on frozen image features of the base classes (started at the zero-shot
   classifier, its length chosen on val), against zero-shot base. Where the image features do not separate the
   classes better than their names do, no prompt has anything to fit.
2. idiosyncratic names: CoOp (at the profile's schedule) on a random base/novel split of the dataset, against
   zero-shot novel. Where what a context learns on some names transfers to every name, CoOp does not lose novel
   accuracy, as it does on real CLIP (published averages: CoOp novel 11.0 below zero-shot's).
3. a shared domain: zero-shot on the dataset's rendering against zero-shot on the pretraining's main rendering
   of the same classes (zero by construction for a dataset drawn as photos); and MaPLe's novel accuracy against zero-shot's (published averages: 75.14 against 74.22).
   Prompting the image encoder pays where the images are far from what pretraining saw most.

`benchmarks/miniature_criteria.py` (`make criteria`) prints them beside the ranking and the phenomena, and stores
them in the profile's criteria file. They are recomputed on every call (a few seconds of training on cached
features); the base-to-novel rows they are compared with come from the results store.
"""
from __future__ import annotations

from dataclasses import replace
from statistics import mean

import torch

from ..data import ClassificationDataset, Item, few_shot, load_dataset, subsample_classes
from ..data.miniature import MAIN_STYLE, restyled
from ..evaluate import score
from ..features import image_features
from ..inputs import evaluation_set
from ..methods import build_method
from ..run import base_to_novel

HEADROOM, NAMES_LOSS, RENDERING_GAP, MAPLE_SLACK = 10.0, 3.0, 10.0, 1.0


def shuffled_classes(ds: ClassificationDataset, seed: int) -> ClassificationDataset:
    """`ds` with its classes in a seeded random order (so base and novel are random halves), labels renumbered. Its
    name stays: the images are the same, so their cached features are reused."""
    order = torch.randperm(ds.num_classes, generator=torch.Generator().manual_seed(seed)).tolist()
    new = {old: i for i, old in enumerate(order)}
    relabel = lambda items: tuple(Item(it.source, new[it.label]) for it in items)  # noqa: E731
    return replace(ds, classnames=tuple(ds.classnames[i] for i in order), train=relabel(ds.train),
                   val=relabel(ds.val), test=relabel(ds.test))


def linear_probe(backbone, ds: ClassificationDataset, shots: int = 16, seed: int = 1, split: str = "test",
                 steps: int = 400, every: int = 25) -> float:
    """Base-class accuracy (%) of a linear head on frozen image features, started at the zero-shot classifier (the
    base names' text features) and trained with Adam on `shots` training images per base class; how long it
    trains (0 steps included) is chosen on the val split. What a readout of these features reaches beyond what
    the names give."""
    base = subsample_classes(ds, "base")
    train = image_features(backbone, base, items=few_shot(base.train, shots, seed), progress=False)
    val, test = (image_features(backbone, base, split=s, progress=False) for s in ("val", split))
    torch.manual_seed(seed)
    weights = torch.nn.Parameter(build_method("zeroshot", backbone, base.classnames, base.template).hand.clone())
    scale = float(backbone.logit_scale)  # CLIP's temperature, fixed: the rows are what trains
    accuracy = lambda fs: ((scale * fs.features @ weights.T).argmax(1) == fs.labels).float().mean().item()  # noqa
    opt = torch.optim.Adam([weights], lr=1e-2)
    with torch.no_grad():
        best = (accuracy(val), accuracy(test))
    for step in range(1, steps + 1):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(scale * train.features @ weights.T, train.labels).backward()
        opt.step()
        if step % every == 0:
            with torch.no_grad():
                best = max(best, (accuracy(val), accuracy(test)), key=lambda b: b[0])
    return 100 * best[1]


def zero_shot_accuracy(backbone, ds: ClassificationDataset, split: str = "test") -> float:
    """Zero-shot accuracy (%) over every class of `ds` (base and novel together)."""
    method = build_method("zeroshot", backbone, ds.classnames, ds.template)
    return score(method, {"all": evaluation_set(backbone, ds, split, progress=False)})["all"]


def diagnose(backbone, profile, name: str, rows: dict, seeds=(1, 2, 3), split: str = "test") -> dict:
    """The three diagnostics of dataset `name`; rows: {method: summary row (base, novel, hm) on `name`}."""
    ds = load_dataset(name)
    probe = mean(linear_probe(backbone, ds, seed=s, split=split) for s in seeds)
    novel = {m: [] for m in ("zeroshot", "coop")}  # on random splits
    for s in seeds:
        shuffled = shuffled_classes(ds, s)
        for m in novel:
            novel[m].append(base_to_novel(backbone, shuffled, profile.run_config(m, s, split=split),
                                          progress=False)["novel"])
    coop_change = mean(novel["coop"]) - mean(novel["zeroshot"])
    main_rendering = restyled(name)
    own = zero_shot_accuracy(backbone, ds, split)
    main = own if main_rendering.meta == ds.meta else zero_shot_accuracy(backbone, main_rendering, split)
    zs, maple = rows["zeroshot"], rows["maple"]
    r = lambda x: round(x, 2)  # noqa: E731
    return {
        "headroom": {"linear_probe_base": r(probe), "zero_shot_base": r(zs["base"]),
                     "holds": probe >= zs["base"] + HEADROOM},
        "idiosyncratic_names": {"coop_novel_minus_zero_shot_on_random_split": r(coop_change),
                                "holds": coop_change <= -NAMES_LOSS},
        "shared_domain": {"zero_shot_here": r(own), f"zero_shot_as_{MAIN_STYLE}": r(main),
                          "drawn_as_main_rendering": main_rendering.meta == ds.meta,
                          "maple_novel_minus_zero_shot": r(maple["novel"] - zs["novel"]),
                          "holds": own <= main - RENDERING_GAP and maple["novel"] >= zs["novel"] - MAPLE_SLACK},
    }
