"""One run, one way through: its inputs (dpt.inputs), the trainer, the scores (dpt.evaluate)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from .backbones import Backbone
from .data.dataset import ClassificationDataset
from .evaluate import base_novel_scores, percent, score, score_images
from .config import check
from .inputs import AUGMENTATIONS, TrialInputs, base_novel_sets, trial_inputs
from .methods import METHODS, MethodConfig, PromptMethod, build_method, check_method
from .trainer import TrainConfig, train


@dataclass
class RunConfig:
    method: str = "coop"
    shots: int = 16
    train: TrainConfig | None = None  # None: TrainConfig.for_method(method), the defaults under its own
    method_cfg: MethodConfig = field(default_factory=MethodConfig)
    augment: str = "none"  # "none", "views" (V encoded views per shot, cycled) or "online" (see dpt.inputs)
    views: int = 0  # augmented views per shot with augment "views"
    eval_split: str = "test"
    classes: str = "base"  # train on the "base" half (base-to-novel) or on "all" classes (transfer, few-shot)

    def __post_init__(self):
        check(self.augment in AUGMENTATIONS, f"augment must be one of {', '.join(AUGMENTATIONS)}, got {self.augment!r}")
        check((self.views >= 1) == (self.augment == "views"),
              f"augment={self.augment!r} with views={self.views}: views (at least 1) go with augment 'views' only")
        check(isinstance(self.shots, int) and self.shots >= 1, f"shots must be a whole number of at least 1, got "
                                                               f"{self.shots}")
        check(self.classes in ("base", "all"), f"classes must be base or all, got {self.classes!r}")
        check_method(self.method)
        if self.train is None:  # what `python -m dpt base2novel --methods NAME` trains, with no options given
            self.train = TrainConfig.for_method(self.method)
        METHODS[self.method].check_run(self.method_cfg, self.train)  # a method config this training cannot run


def run_info(dataset, run: RunConfig, backbone) -> dict:
    """What a checkpoint records beside the configs, so a resume with other data or weights is refused."""
    info = {"dataset": dataset.name, "shots": run.shots, "augment": run.augment, "views": run.views,
            "backbone": backbone.name}
    return info if run.classes == "base" else {**info, "classes": run.classes}


def run_trial(backbone: Backbone, run: RunConfig, inputs: TrialInputs, out_dir: str | Path | None = None,
              resume: bool = False, progress: bool = True, run_info: dict | None = None) -> dict:
    """Train `run.method`, then score every evaluation set: {"accuracy", "correct", "history", "model"}."""
    torch.manual_seed(run.train.seed)  # the initial state of every learnable module
    method = build_method(run.method, backbone, inputs.classnames, inputs.template, run.method_cfg)
    history = []
    if method.trainable:
        history = train(method, inputs.train, None, run.train, out_dir=out_dir, resume=resume,
                        progress=progress, run_info=run_info)
    hits = score_images(method, inputs.evaluation) if inputs.evaluation else {}
    return {"accuracy": {k: percent(v) for k, v in hits.items()}, "correct": {k: v.numpy() for k, v in hits.items()},
            "history": history, "model": method}


def train_on_base(backbone: Backbone, dataset: ClassificationDataset, run: RunConfig, out_dir: str | Path | None = None,
                  cache_dir: str | Path | None = None, resume: bool = False,
                  progress: bool = True) -> tuple[PromptMethod, list[dict]]:
    """`run.method` for the base classes (or all) trained on `shots` images per class."""
    inputs = trial_inputs(backbone, dataset, run, cache_dir, progress, evaluate=False)
    out = run_trial(backbone, run, inputs, out_dir, resume, progress, run_info=run_info(dataset, run, backbone))
    return out["model"], out["history"]


def evaluate_base_novel(method: PromptMethod, backbone: Backbone, dataset: ClassificationDataset, split: str = "test",
                        cache_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Accuracy on the base and the novel classes of `dataset` and their harmonic mean (in percent)."""
    return base_novel_scores(score(method, base_novel_sets(backbone, dataset, split, cache_dir, progress,
                                                           method.encodes_images)))


def base_to_novel(backbone: Backbone, dataset: ClassificationDataset, run: RunConfig, out_dir: str | Path | None = None,
                  cache_dir: str | Path | None = None, resume: bool = False, progress: bool = True) -> dict:
    """Train on `shots` images per base class, evaluate on base and novel classes. Returns a result row."""
    inputs = trial_inputs(backbone, dataset, run, cache_dir, progress)
    out = run_trial(backbone, run, inputs, out_dir, resume, progress, run_info=run_info(dataset, run, backbone))
    return {"method": run.method, "dataset": dataset.name, "seed": run.train.seed,
            **base_novel_scores(out["accuracy"]), "history": out["history"]}
