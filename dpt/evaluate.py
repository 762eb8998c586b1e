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
def accuracy(method: PromptMethod, features: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy in percent. Class text features are encoded once (unless they depend on the image)."""
    method.eval()
    device = method.hand.device
    text = None if method.text_per_image else method.text_features()
    batch_size = method.eval_batch_size or batch_size
    correct = 0
    for s in range(0, len(labels), batch_size):
        x = features[s:s + batch_size].to(device)
        pred = method.logits(x, text).argmax(-1).cpu()
        correct += int((pred == labels[s:s + len(x)]).sum())
    return 100.0 * correct / max(1, len(labels))


@dataclass
class RunConfig:
    method: str = "coop"
    shots: int = 16
    train: TrainConfig = field(default_factory=TrainConfig)
    method_cfg: MethodConfig = field(default_factory=MethodConfig)
    views: int = 0  # augmented views per training image (0: the evaluation transform only)
    eval_split: str = "test"


def few_shot_features(backbone: Backbone, base: ClassificationDataset, shots: int, seed: int, views: int = 0,
                      cache_dir: str | Path | None = None, progress: bool = True,
                      train: FeatureSet | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ([N, D], or [V, N, D] with views) and labels of `shots` training images per class.
    `train`: the already encoded train split of `base` (else it is encoded, through the cache)."""
    feats = train if train is not None else image_features(backbone, base, "train", views=views, seed=seed,
                                                           cache_dir=cache_dir, progress=progress)
    index = {it: i for i, it in enumerate(base.train)}
    idx = torch.tensor([index[it] for it in few_shot(base.train, shots, seed)], dtype=torch.long)
    return feats.features[..., idx, :], feats.labels[idx]


@dataclass
class TrialInputs:
    """Everything one base-to-novel run reads, as tensors and names: a worker needs nothing else."""
    classnames_base: tuple[str, ...]
    classnames_novel: tuple[str, ...]
    template: str
    train_x: torch.Tensor | None  # few-shot features (or images) of the base classes (None: nothing to train)
    train_y: torch.Tensor | None
    base: FeatureSet | None  # evaluation split, base classes (None: train only)
    novel: FeatureSet | None  # evaluation split, novel classes


def eval_features(backbone: Backbone, dataset: ClassificationDataset, split: str, cache_dir=None,
                  progress: bool = True, images: bool = False) -> tuple[FeatureSet, FeatureSet]:
    """Features of the evaluation split's base and novel images (encoded once per dataset), or with
    `images` the preprocessed images themselves (for methods with visual prompts)."""
    parts = [subsample_classes(dataset, part) for part in ("base", "novel")]
    if images:
        return tuple(image_pixels(backbone, p, p.split(split), progress=progress) for p in parts)
    return tuple(image_features(backbone, p, split, cache_dir=cache_dir, progress=progress) for p in parts)


def trial_inputs(backbone: Backbone, dataset: ClassificationDataset, run: RunConfig, cache_dir=None,
                 progress: bool = True, evaluation: tuple[FeatureSet, FeatureSet] | None = None,
                 train: FeatureSet | None = None, evaluate: bool = True) -> TrialInputs:
    """Encode (or take) every feature the run reads, before any training: a bad image stops it here.
    `evaluation` and `train` are features, or for methods with visual prompts `evaluation` holds images."""
    base, novel = subsample_classes(dataset, "base"), subsample_classes(dataset, "novel")
    images = METHODS[run.method].encodes_images
    f_base = f_novel = None
    if evaluate:
        f_base, f_novel = evaluation or eval_features(backbone, dataset, run.eval_split, cache_dir, progress, images)
    x = y = None
    if images:
        shots = image_pixels(backbone, base, few_shot(base.train, run.shots, run.train.seed), views=run.views,
                             seed=run.train.seed, progress=progress)
        x, y = shots.features, shots.labels
    elif METHODS[run.method].learns:
        x, y = few_shot_features(backbone, base, run.shots, run.train.seed, run.views, cache_dir, progress, train)
    return TrialInputs(base.classnames, novel.classnames, dataset.template, x, y, f_base, f_novel)


def run_trial(backbone: Backbone, run: RunConfig, inputs: TrialInputs, out_dir: str | Path | None = None,
              resume: bool = False, progress: bool = True, run_info: dict | None = None) -> dict:
    """Train `run.method` on the base classes' shots, then score base and novel. Returns scores and history."""
    torch.manual_seed(run.train.seed)  # the initial state of every learnable module
    method = build_method(run.method, backbone, inputs.classnames_base, inputs.template, run.method_cfg)
    history = []
    if method.trainable:
        history = train(method, inputs.train_x, inputs.train_y, run.train, out_dir=out_dir, resume=resume,
                        progress=progress, run_info=run_info)
    if inputs.base is None:
        return {"history": history, "model": method}
    scores = score_base_novel(method, (inputs.classnames_base, inputs.classnames_novel), (inputs.base, inputs.novel))
    return {**scores, "history": history, "model": method}


def score_base_novel(method: PromptMethod, classnames: tuple, features: tuple[FeatureSet, FeatureSet]) -> dict:
    """Accuracy (%) on base and novel classes, each against its own class names, and their harmonic mean."""
    acc = {}
    for name, names, feats in zip(("base", "novel"), classnames, features):
        method.set_classnames(names)
        acc[name] = accuracy(method, feats.features, feats.labels)
    method.set_classnames(classnames[0])
    return {"base": round(acc["base"], 2), "novel": round(acc["novel"], 2),
            "hm": round(harmonic_mean(acc["base"], acc["novel"]), 2)}


def train_on_base(backbone: Backbone, dataset: ClassificationDataset, run: RunConfig, out_dir: str | Path | None = None,
                  cache_dir: str | Path | None = None, resume: bool = False,
                  progress: bool = True) -> tuple[PromptMethod, list[dict]]:
    """Build `run.method` for the base classes and train it on `shots` images per base class."""
    inputs = trial_inputs(backbone, dataset, run, cache_dir, progress, evaluate=False)
    out = run_trial(backbone, run, inputs, out_dir, resume, progress, run_info=run_info(dataset, run, backbone))
    return out["model"], out["history"]


def run_info(dataset, run, backbone) -> dict:
    """What a checkpoint records beside the configs, so a resume with other data or weights is refused."""
    return {"dataset": dataset.name, "shots": run.shots, "views": run.views, "backbone": backbone.name}


def evaluate_base_novel(method: PromptMethod, backbone: Backbone, dataset: ClassificationDataset, split: str = "test",
                        cache_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Accuracy on the base and the novel classes of `dataset` and their harmonic mean (in percent)."""
    names = tuple(subsample_classes(dataset, part).classnames for part in ("base", "novel"))
    return score_base_novel(method, names, eval_features(backbone, dataset, split, cache_dir, progress,
                                                         method.encodes_images))


def base_to_novel(backbone: Backbone, dataset: ClassificationDataset, run: RunConfig, out_dir: str | Path | None = None,
                  cache_dir: str | Path | None = None, resume: bool = False, progress: bool = True) -> dict:
    """Train on `shots` images per base class, evaluate on base and novel classes. Returns a result row."""
    inputs = trial_inputs(backbone, dataset, run, cache_dir, progress)
    out = run_trial(backbone, run, inputs, out_dir, resume, progress, run_info=run_info(dataset, run, backbone))
    out.pop("model")
    return {"method": run.method, "dataset": dataset.name, "seed": run.train.seed, **out}


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
