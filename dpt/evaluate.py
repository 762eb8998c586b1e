"""Evaluation: accuracy from cached features, harmonic mean, and the base-to-novel protocol for one run."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .backbones import Backbone
from .data.dataset import ClassificationDataset, few_shot, subsample_classes
from .features import image_features
from .methods import MethodConfig, PromptMethod, build_method
from .trainer import TrainConfig, train


def harmonic_mean(base: float, novel: float) -> float:
    return 0.0 if base + novel == 0 else 2 * base * novel / (base + novel)


@torch.no_grad()
def accuracy(method: PromptMethod, features: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy in percent. Class text features are encoded once (except image-conditioned methods)."""
    method.eval()
    device = method.hand.device
    conditional = method.name == "cocoop"
    text = None if conditional else method.text_features()
    correct = 0
    for s in range(0, len(labels), batch_size if not conditional else 64):
        x = features[s:s + (batch_size if not conditional else 64)].to(device)
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
                      cache_dir: str | Path | None = None, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached features ([N, D], or [V, N, D] with views) and labels of `shots` training images per class."""
    feats = image_features(backbone, base, "train", views=views, seed=seed, cache_dir=cache_dir, progress=progress)
    index = {it: i for i, it in enumerate(base.train)}
    idx = torch.tensor([index[it] for it in few_shot(base.train, shots, seed)])
    return feats.features[..., idx, :], feats.labels[idx]


def train_on_base(backbone: Backbone, dataset: ClassificationDataset, run: RunConfig, out_dir: str | Path | None = None,
                  cache_dir: str | Path | None = None, resume: bool = False,
                  progress: bool = True) -> tuple[PromptMethod, list[dict]]:
    """Build `run.method` for the base classes and train it on `shots` images per base class."""
    base = subsample_classes(dataset, "base")
    torch.manual_seed(run.train.seed)  # the initial state of every learnable module
    method = build_method(run.method, backbone, base.classnames, dataset.template, run.method_cfg)
    history = []
    if method.trainable:
        x, y = few_shot_features(backbone, base, run.shots, run.train.seed, run.views, cache_dir, progress)
        history = train(method, x, y, run.train, out_dir=out_dir, resume=resume, progress=progress,
                        run_info={"dataset": dataset.name, "shots": run.shots, "views": run.views,
                                  "backbone": backbone.name})
    return method, history


def evaluate_base_novel(method: PromptMethod, backbone: Backbone, dataset: ClassificationDataset, split: str = "test",
                        cache_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Accuracy on the base and the novel classes of `dataset` and their harmonic mean (in percent)."""
    base, novel = subsample_classes(dataset, "base"), subsample_classes(dataset, "novel")
    acc = {}
    for name, part in (("base", base), ("novel", novel)):
        method.set_classnames(part.classnames)
        f = image_features(backbone, part, split, cache_dir=cache_dir, progress=progress)
        acc[name] = accuracy(method, f.features, f.labels)
    method.set_classnames(base.classnames)
    return {"base": round(acc["base"], 2), "novel": round(acc["novel"], 2),
            "hm": round(harmonic_mean(acc["base"], acc["novel"]), 2)}


def base_to_novel(backbone: Backbone, dataset: ClassificationDataset, run: RunConfig, out_dir: str | Path | None = None,
                  cache_dir: str | Path | None = None, resume: bool = False, progress: bool = True) -> dict:
    """Train on `shots` images per base class, evaluate on base and novel classes. Returns a result row."""
    method, history = train_on_base(backbone, dataset, run, out_dir, cache_dir, resume, progress)
    scores = evaluate_base_novel(method, backbone, dataset, run.eval_split, cache_dir, progress)
    return {"method": run.method, "dataset": dataset.name, "seed": run.train.seed, **scores, "history": history}


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
