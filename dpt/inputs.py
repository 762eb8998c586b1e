"""What one run reads, prepared before any training: the few-shot training features (or preprocessed images,
for methods that prompt the image encoder) and every evaluation set.

    inputs = trial_inputs(backbone, dataset, run)      # features encoded (or read from the cache) here
    out = run_trial(backbone, run, inputs)             # dpt.run: trains, then scores; reads nothing else

Preparing everything first means that a bad image stops a run (or a whole grid) before any training.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .backbones import Backbone
from .data.dataset import ClassificationDataset, few_shot, subsample_classes
from .features import FeatureSet, image_features, image_pixels
from .methods import METHODS


@dataclass
class EvalSet:
    """Images of one evaluation (as features, or preprocessed for visual prompts), scored against these
    class names written with this template."""
    classnames: tuple[str, ...]
    template: str
    data: FeatureSet


@dataclass
class TrialInputs:
    """Everything one run reads, as tensors and names: a worker needs nothing else."""
    classnames: tuple[str, ...]  # the classes trained on
    template: str
    train_x: torch.Tensor | None  # few-shot features (or images) of those classes (None: nothing to train)
    train_y: torch.Tensor | None
    evaluation: dict[str, EvalSet] | None  # name -> what to score on ("base"/"novel", or a target dataset)


def train_split(backbone: Backbone, dataset: ClassificationDataset, classes: str, cache_dir=None,
                progress: bool = True) -> FeatureSet:
    """Features of the train split of `classes` ("base" or "all") of `dataset` (encoded once, through the cache)."""
    return image_features(backbone, subsample_classes(dataset, classes), "train", cache_dir=cache_dir,
                          progress=progress)


def few_shot_features(backbone: Backbone, part: ClassificationDataset, shots: int, seed: int, views: int = 0,
                      cache_dir: str | Path | None = None, progress: bool = True,
                      train: FeatureSet | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ([N, D], or [V, N, D] with views) and labels of `shots` training images per class of `part`.
    `train`: the already encoded train split of `part` (else it is encoded, through the cache)."""
    feats = train if train is not None else image_features(backbone, part, "train", views=views, seed=seed,
                                                           cache_dir=cache_dir, progress=progress)
    index = {it: i for i, it in enumerate(part.train)}
    idx = torch.tensor([index[it] for it in few_shot(part.train, shots, seed)], dtype=torch.long)
    return feats.features[..., idx, :], feats.labels[idx]


def evaluation_set(backbone: Backbone, dataset: ClassificationDataset, split: str, cache_dir=None,
                   progress: bool = True, images: bool = False) -> EvalSet:
    """All classes of `dataset`'s split: features (encoded once, through the cache), or with `images` the
    preprocessed images themselves (for methods with visual prompts)."""
    data = (image_pixels(backbone, dataset, dataset.split(split), progress=progress) if images
            else image_features(backbone, dataset, split, cache_dir=cache_dir, progress=progress))
    return EvalSet(dataset.classnames, dataset.template, data)


def base_novel_sets(backbone: Backbone, dataset: ClassificationDataset, split: str, cache_dir=None,
                    progress: bool = True, images: bool = False) -> dict[str, EvalSet]:
    """The base-to-novel evaluation: the split's base and novel classes, each against its own class names."""
    return {part: evaluation_set(backbone, subsample_classes(dataset, part), split, cache_dir, progress, images)
            for part in ("base", "novel")}


def evaluation_sets(backbone: Backbone, dataset: ClassificationDataset, split: str, targets: dict | None = None,
                    cache_dir=None, progress: bool = True, images: bool = False) -> dict[str, EvalSet]:
    """What a run is scored on: base and novel of `dataset` (no targets), or each target dataset, all classes
    (targets: {name: ClassificationDataset}, the source itself included where it is scored)."""
    if not targets:
        return base_novel_sets(backbone, dataset, split, cache_dir, progress, images)
    return {name: evaluation_set(backbone, ds, split, cache_dir, progress, images) for name, ds in targets.items()}


def trial_inputs(backbone: Backbone, dataset: ClassificationDataset, run, cache_dir=None,
                 progress: bool = True, evaluation: dict[str, EvalSet] | None = None,
                 train: FeatureSet | None = None, evaluate: bool = True) -> TrialInputs:
    """Encode (or take) every feature the run reads (`run`: a dpt.run.RunConfig), before any training.
    Trains on `run.classes` of `dataset`; evaluates on `evaluation`, by default base and novel (classes
    "base") or all classes of `dataset` itself (classes "all"). `train`: the encoded train split."""
    part = subsample_classes(dataset, run.classes)
    images = METHODS[run.method].encodes_images
    if evaluate and evaluation is None:
        targets = None if run.classes == "base" else {dataset.name: dataset}
        evaluation = evaluation_sets(backbone, dataset, run.eval_split, targets, cache_dir, progress, images)
    x = y = None
    if images:
        shots = image_pixels(backbone, part, few_shot(part.train, run.shots, run.train.seed), views=run.views,
                             seed=run.train.seed, progress=progress)
        x, y = shots.features, shots.labels
    elif METHODS[run.method].learns:
        x, y = few_shot_features(backbone, part, run.shots, run.train.seed, run.views, cache_dir, progress, train)
    return TrialInputs(part.classnames, dataset.template, x, y, evaluation if evaluate else None)
