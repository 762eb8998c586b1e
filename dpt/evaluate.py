"""Evaluation: accuracy from cached features, harmonic mean, and the base-to-novel protocol for one run."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from .backbones import Backbone
from .data.dataset import ClassificationDataset, few_shot, subsample_classes
from .features import FeatureSet, image_features, image_pixels
from .methods import METHODS, MethodConfig, PromptMethod, build_method
from .trainer import TrainConfig, train


def harmonic_mean(base: float, novel: float) -> float:
    return 0.0 if base + novel == 0 else 2 * base * novel / (base + novel)


@torch.no_grad()
def correct(method: PromptMethod, features: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Per image, whether the top-1 prediction is right (bool, in the order of `labels`). Class text features are
    encoded once (unless they depend on the image)."""
    method.eval()
    device = method.hand.device
    text = None if method.text_per_image else method.text_features()
    batch_size = method.eval_batch_size or batch_size
    hits = []
    for s in range(0, len(labels), batch_size):
        x = features[s:s + batch_size].to(device)
        hits.append(method.logits(x, text).argmax(-1).cpu() == labels[s:s + len(x)])
    return torch.cat(hits) if hits else torch.zeros(0, dtype=torch.bool)


def percent(hits: torch.Tensor) -> float:
    return 100.0 * int(hits.sum()) / max(1, len(hits))


def accuracy(method: PromptMethod, features: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy in percent."""
    return percent(correct(method, features, labels, batch_size))


@dataclass
class RunConfig:
    method: str = "coop"
    shots: int = 16
    train: TrainConfig = field(default_factory=TrainConfig)
    method_cfg: MethodConfig = field(default_factory=MethodConfig)
    views: int = 0  # augmented views per training image (0: the evaluation transform only)
    eval_split: str = "test"
    classes: str = "base"  # train on the "base" half (base-to-novel) or on "all" classes (transfer, few-shot)


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


def evaluation_set(backbone: Backbone, dataset: ClassificationDataset, split: str, cache_dir=None,
                   progress: bool = True, images: bool = False) -> EvalSet:
    """All classes of `dataset`'s split: features (encoded once, through the cache), or with `images` the
    preprocessed images themselves (for methods with visual prompts)."""
    data = (image_pixels(backbone, dataset, dataset.split(split), progress=progress) if images
            else image_features(backbone, dataset, split, cache_dir=cache_dir, progress=progress))
    return EvalSet(dataset.classnames, dataset.template, data)


def eval_features(backbone: Backbone, dataset: ClassificationDataset, split: str, cache_dir=None,
                  progress: bool = True, images: bool = False) -> dict[str, EvalSet]:
    """The base-to-novel evaluation: the split's base and novel classes, each against its own class names."""
    return {part: evaluation_set(backbone, subsample_classes(dataset, part), split, cache_dir, progress, images)
            for part in ("base", "novel")}


def trial_inputs(backbone: Backbone, dataset: ClassificationDataset, run: RunConfig, cache_dir=None,
                 progress: bool = True, evaluation: dict[str, EvalSet] | None = None,
                 train: FeatureSet | None = None, evaluate: bool = True) -> TrialInputs:
    """Encode (or take) every feature the run reads, before any training: a bad image stops it here.
    Trains on `run.classes` of `dataset`; evaluates on `evaluation`, by default base and novel (classes
    "base") or all classes of `dataset` itself (classes "all"). `train`: the encoded train split."""
    part = subsample_classes(dataset, run.classes)
    images = METHODS[run.method].encodes_images
    if evaluate and evaluation is None:
        evaluation = (eval_features(backbone, dataset, run.eval_split, cache_dir, progress, images)
                      if run.classes == "base" else
                      {dataset.name: evaluation_set(backbone, dataset, run.eval_split, cache_dir, progress, images)})
    x = y = None
    if images:
        shots = image_pixels(backbone, part, few_shot(part.train, run.shots, run.train.seed), views=run.views,
                             seed=run.train.seed, progress=progress)
        x, y = shots.features, shots.labels
    elif METHODS[run.method].learns:
        x, y = few_shot_features(backbone, part, run.shots, run.train.seed, run.views, cache_dir, progress, train)
    return TrialInputs(part.classnames, dataset.template, x, y, evaluation if evaluate else None)


def run_trial(backbone: Backbone, run: RunConfig, inputs: TrialInputs, out_dir: str | Path | None = None,
              resume: bool = False, progress: bool = True, run_info: dict | None = None) -> dict:
    """Train `run.method` on its classes' shots, then score every evaluation set.
    Returns {"accuracy": {name: percent}, "history", "model"}."""
    torch.manual_seed(run.train.seed)  # the initial state of every learnable module
    method = build_method(run.method, backbone, inputs.classnames, inputs.template, run.method_cfg)
    history = []
    if method.trainable:
        history = train(method, inputs.train_x, inputs.train_y, run.train, out_dir=out_dir, resume=resume,
                        progress=progress, run_info=run_info)
    hits = score_images(method, inputs.evaluation) if inputs.evaluation else {}
    return {"accuracy": {k: percent(v) for k, v in hits.items()}, "correct": {k: v.numpy() for k, v in hits.items()},
            "history": history, "model": method}


def score_images(method: PromptMethod, evaluation: dict[str, EvalSet]) -> dict[str, torch.Tensor]:
    """Per-image correctness on each evaluation set, against its own class names and template (a target
    dataset's classes are new to the prompt, as novel classes are); the method is left as it was."""
    trained = (method.classnames, method.template)
    hits = {}
    for name, es in evaluation.items():
        method.set_classnames(es.classnames, es.template)
        hits[name] = correct(method, es.data.features, es.data.labels)
    method.set_classnames(*trained)
    return hits


def score(method: PromptMethod, evaluation: dict[str, EvalSet]) -> dict[str, float]:
    """Accuracy (%) on each evaluation set (see score_images)."""
    return {k: percent(v) for k, v in score_images(method, evaluation).items()}


def base_novel_scores(acc: dict[str, float]) -> dict:
    """Base and novel accuracy (2 decimals) and their harmonic mean."""
    return {"base": round(acc["base"], 2), "novel": round(acc["novel"], 2),
            "hm": round(harmonic_mean(acc["base"], acc["novel"]), 2)}


def train_on_base(backbone: Backbone, dataset: ClassificationDataset, run: RunConfig, out_dir: str | Path | None = None,
                  cache_dir: str | Path | None = None, resume: bool = False,
                  progress: bool = True) -> tuple[PromptMethod, list[dict]]:
    """Build `run.method` for the base classes (or all, with run.classes "all") and train it on `shots`
    images per class."""
    inputs = trial_inputs(backbone, dataset, run, cache_dir, progress, evaluate=False)
    out = run_trial(backbone, run, inputs, out_dir, resume, progress, run_info=run_info(dataset, run, backbone))
    return out["model"], out["history"]


def run_info(dataset, run, backbone) -> dict:
    """What a checkpoint records beside the configs, so a resume with other data or weights is refused."""
    info = {"dataset": dataset.name, "shots": run.shots, "views": run.views, "backbone": backbone.name}
    return info if run.classes == "base" else {**info, "classes": run.classes}


def evaluate_base_novel(method: PromptMethod, backbone: Backbone, dataset: ClassificationDataset, split: str = "test",
                        cache_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Accuracy on the base and the novel classes of `dataset` and their harmonic mean (in percent)."""
    return base_novel_scores(score(method, eval_features(backbone, dataset, split, cache_dir, progress,
                                                         method.encodes_images)))


def base_to_novel(backbone: Backbone, dataset: ClassificationDataset, run: RunConfig, out_dir: str | Path | None = None,
                  cache_dir: str | Path | None = None, resume: bool = False, progress: bool = True) -> dict:
    """Train on `shots` images per base class, evaluate on base and novel classes. Returns a result row."""
    inputs = trial_inputs(backbone, dataset, run, cache_dir, progress)
    out = run_trial(backbone, run, inputs, out_dir, resume, progress, run_info=run_info(dataset, run, backbone))
    return {"method": run.method, "dataset": dataset.name, "seed": run.train.seed,
            **base_novel_scores(out["accuracy"]), "history": out["history"]}


def miniature_zero_shot(model=None, split: str = "val") -> dict:
    """Zero-shot base/novel accuracy of each miniature dataset's template (used by `dpt.pretrain`)."""
    from .backbones import load_backbone
    from .data.miniature import MINIATURE_DATASETS, load_miniature

    backbone = load_backbone("miniclip")
    if model is not None:
        backbone.model.load_state_dict(model.state_dict())
    out = {}
    for name in MINIATURE_DATASETS:
        row = base_to_novel(backbone, load_miniature(name), RunConfig(method="zeroshot", eval_split=split),
                            progress=False, cache_dir=None)
        out[name] = {k: row[k] for k in ("base", "novel", "hm")}
    return out
