"""What one run reads, prepared before any training (so a bad image stops a run or a grid before it trains):
its training set, with the run's augmentation (none, cached views, or online), and every evaluation set."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch

from .backbones import Backbone
from .data.dataset import ClassificationDataset, Item, few_shot, subsample_classes
from .features import FeatureSet, ImageSet, image_batches, image_features, image_pixels, seed_key, view_seed
from .methods import METHODS

AUGMENTATIONS = ("none", "views", "online")


class TrainingSet(ABC):
    """What `dpt.trainer.train` reads: per-sample `labels` [N], and the inputs of an epoch in a given order."""
    labels: torch.Tensor

    @abstractmethod
    def batches(self, epoch: int, order: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
        """The inputs of samples `order`, `batch_size` at a time, as epoch `epoch` sees them."""


class CachedViews(TrainingSet):
    """Training inputs held in memory: [V, N, ...] features (or preprocessed images); epoch e reads view e mod V."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor):
        self.features, self.labels = features, labels

    def batches(self, epoch: int, order: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
        view = self.features[epoch % self.features.shape[0]]
        for s in range(0, len(order), batch_size):
            yield view[order[s:s + batch_size].to(view.device)]


class OnlineImages(TrainingSet):
    """Training images augmented afresh at every step, seeded by (seed, epoch, image) so a resume sees the same."""

    def __init__(self, dataset: ClassificationDataset, items: Sequence[Item], transform, seed: int,
                 encoder: Backbone | None = None, workers: int | None = None):
        self.dataset, self.items, self.transform, self.seed = dataset, list(items), transform, seed
        self.encoder, self.workers = encoder, workers
        self.encodes = encoder is not None  # a Ray worker attaches its own backbone (engines.py)
        self.labels = torch.tensor([it.label for it in self.items], dtype=torch.long)

    def __getstate__(self):  # never ship the model with the data: the receiving process has its own
        return {**self.__dict__, "encoder": None}

    def batches(self, epoch: int, order: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
        items = [self.items[int(i)] for i in order]
        seeds = [view_seed(f"{self.seed}|{epoch}|{seed_key(self.dataset, it)}") for it in items]
        for x in image_batches(self.dataset, items, self.transform, batch_size, seeds, self.workers):
            yield self.encoder.encode_images(x) if self.encoder is not None else x


@dataclass
class EvalSet:
    """One evaluation's images (features, or batches for visual prompts) with its class names and template."""
    classnames: tuple[str, ...]
    template: str
    data: FeatureSet | ImageSet


@dataclass
class TrialInputs:
    """Everything one run reads: a worker needs nothing else on a machine that holds the data."""
    classnames: tuple[str, ...]  # the classes trained on
    template: str
    train: CachedViews | OnlineImages | None  # the training set of those classes (None: nothing to train)
    evaluation: dict[str, EvalSet] | None  # name -> what to score on ("base"/"novel", or a target dataset)


def few_shot_features(backbone: Backbone, part: ClassificationDataset, shots: int, seed: int, views: int = 0,
                      cache_dir: str | Path | None = None, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ([N, D], or [V, N, D]) and labels of `shots` images per class: only those images are read."""
    feats = image_features(backbone, part, items=few_shot(part.train, shots, seed), views=views, cache_dir=cache_dir,
                           progress=progress)
    return feats.features, feats.labels


def training_set(backbone: Backbone, part: ClassificationDataset, run, cache_dir=None, progress: bool = True):
    """The training inputs of `run` (a dpt.run.RunConfig) on the classes of `part`, with its augmentation."""
    method = METHODS[run.method]
    if not method.learns:
        return None
    shots = few_shot(part.train, run.shots, run.train.seed)
    if run.augment == "online":
        return OnlineImages(part, shots, backbone.train_preprocess, run.train.seed,
                            encoder=None if method.encodes_images else backbone)
    views = run.views if run.augment == "views" else 0
    if method.encodes_images:
        data = image_pixels(backbone, part, shots, views=views, progress=progress)
    else:
        data = image_features(backbone, part, items=shots, views=views, cache_dir=cache_dir, progress=progress)
    x = data.features if views else data.features.unsqueeze(0)
    return CachedViews(x, data.labels)


def evaluation_set(backbone: Backbone, dataset: ClassificationDataset, split: str, cache_dir=None,
                   progress: bool = True, images: bool = False) -> EvalSet:
    """All classes of `dataset`'s split: features, or with `images` preprocessed images loaded when scored."""
    items = dataset.split(split)
    labels = torch.tensor([it.label for it in items], dtype=torch.long)
    data = (ImageSet(dataset, tuple(items), backbone.preprocess, labels) if images
            else image_features(backbone, dataset, items=items, cache_dir=cache_dir, progress=progress))
    return EvalSet(dataset.classnames, dataset.template, data)


def base_novel_sets(backbone: Backbone, dataset: ClassificationDataset, split: str, cache_dir=None,
                    progress: bool = True, images: bool = False) -> dict[str, EvalSet]:
    """The base-to-novel evaluation: the split's base and novel classes, each against its own class names."""
    return {part: evaluation_set(backbone, subsample_classes(dataset, part), split, cache_dir, progress, images)
            for part in ("base", "novel")}


def evaluation_sets(backbone: Backbone, dataset: ClassificationDataset, split: str, targets: dict | None = None,
                    cache_dir=None, progress: bool = True, images: bool = False) -> dict[str, EvalSet]:
    """What a run is scored on: base and novel of `dataset`, or each target dataset."""
    if not targets:
        return base_novel_sets(backbone, dataset, split, cache_dir, progress, images)
    return {name: evaluation_set(backbone, ds, split, cache_dir, progress, images) for name, ds in targets.items()}


def trial_inputs(backbone: Backbone, dataset: ClassificationDataset, run, cache_dir=None,
                 progress: bool = True, evaluation: dict[str, EvalSet] | None = None,
                 evaluate: bool = True) -> TrialInputs:
    """Every feature the run reads, encoded (or taken) before any training."""
    part = subsample_classes(dataset, run.classes)
    if evaluate and evaluation is None:
        targets = None if run.classes == "base" else {dataset.name: dataset}
        evaluation = evaluation_sets(backbone, dataset, run.eval_split, targets, cache_dir, progress,
                                     METHODS[run.method].encodes_images)
    train = training_set(backbone, part, run, cache_dir, progress)
    return TrialInputs(part.classnames, dataset.template, train, evaluation if evaluate else None)
