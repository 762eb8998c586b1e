"""One place for defaults: the profiles (backbone, weights, datasets, device, training defaults) that
every entry point reads: the command line, the ablation, the tuner and the notebooks.

Precedence of training settings, lowest first: `TrainConfig`'s field defaults (the miniature's 30 epochs), the
profile's `train` (empty on the miniatures), the method class's `train_defaults` (e.g. CoCoOp's batch size of 8),
then the user's overrides (`--epochs`, `--train-set`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import from_dict
from ..errors import BadInput
from .recipes import recipes


def for_epochs(method: str, cfg, recipe_epochs: int, epochs: int):
    """`cfg` for `epochs` instead of `recipe_epochs`: knobs that count epochs scale with the schedule (PromptSRC's
    Gaussian aggregation at the same share of the other schedule, unless the user chose it)."""
    from dataclasses import replace
    from ..methods import METHODS, MethodConfig
    from ..methods.multimodal import PromptSRC
    share, default = epochs / recipe_epochs, MethodConfig()
    if not issubclass(METHODS[method], PromptSRC) or (cfg.gpa_mean, cfg.gpa_std) != (default.gpa_mean, default.gpa_std):
        return cfg
    return replace(cfg, gpa_mean=float(min(epochs, max(1, round(cfg.gpa_mean * share)))), gpa_std=cfg.gpa_std * share)


@dataclass(frozen=True)
class Profile:
    """Everything a run needs that is not a method knob: which CLIP, which weights, which data, where, how it
    trains (schedules, augmentation) and where its results go."""
    name: str
    backbone: str
    pretrained: str | None  # open_clip tag, checkpoint path, "default" (shipped/openai) or None (random init)
    datasets: tuple[str, ...]
    device: str
    train: dict = field(default_factory=dict)  # TrainConfig overrides for this profile
    shots: int = 16
    transfer_source: str = ""  # transfer / domain generalisation: the dataset trained on (all classes) ...
    transfer_targets: tuple[str, ...] = ()  # ... and the datasets scored (the source itself first)
    augment: str = "none"  # training augmentation of cached-feature methods (dpt.inputs); image methods: online
    views: int = 0  # with augment "views"
    use_recipes: bool = False  # schedules from recipes.json (the references'), else train + method train_defaults
    results: str = ""  # this profile's folder of default results files, under results/
    budget: dict = field(default_factory=dict)  # TrainConfig fields over every method's schedule (a course budget)
    course_datasets: tuple[str, ...] = ()  # what the notebooks use (default: datasets)
    # whether every dataset's classes come from one domain (the base/novel gap from the classes, not from a
    # rendering that differs between them), and why: a design fact, the fidelity table's last criterion
    one_domain: tuple[bool, str] = (True, "one domain per dataset")

    def train_config(self, method: str, seed: int, overrides: dict | None = None, dataset: str | None = None):
        """The TrainConfig of `method` under this profile (on `dataset`, for per-dataset recipes), with the
        user's overrides on top."""
        from ..methods import METHODS
        from ..trainer import TrainConfig
        if self.use_recipes:
            table = recipes()
            recipe = table["methods"].get(method, {})
            per = {k: v for k, v in recipe.get("per_dataset", {}).get(dataset, {}).items() if k != "source"}
            common = {k: table["common"][k] for k in ("momentum", "weight_decay", "warmup_epochs", "warmup_lr")}
            defaults = {**common, **recipe.get("train", {}), **per}
        else:
            defaults = {**self.train, **getattr(METHODS.get(method), "train_defaults", {})}
        return from_dict(TrainConfig, {**defaults, **self.budget, **(overrides or {}), "seed": seed}, "training")

    def run_config(self, method: str, seed: int, dataset: str | None = None, shots: int | None = None,
                   classes: str = "base", split: str = "test", train_overrides: dict | None = None, method_cfg=None):
        """The dpt.run.RunConfig of one run under this profile: its recipe, augmentation and shots."""
        from ..methods import METHODS, MethodConfig
        from ..run import RunConfig
        augment, views = self.augmentation(method)
        train = self.train_config(method, seed, train_overrides, dataset)
        method_cfg = method_cfg or MethodConfig()
        if method in METHODS:  # a schedule shortened (a course budget, --epochs): epoch-counting knobs follow it
            recipe = self.with_(budget={}).train_config(method, seed, None, dataset)
            if recipe.epochs != train.epochs:
                method_cfg = for_epochs(method, method_cfg, recipe.epochs, train.epochs)
        return RunConfig(method=method, shots=self.shots if shots is None else shots, train=train,
                         method_cfg=method_cfg, augment=augment, views=views, eval_split=split, classes=classes)

    def augmentation(self, method: str) -> tuple[str, int]:
        """(augment, views) of `method`'s runs: cached-feature methods as the profile says; methods that run the
        image encoder augment online whenever the profile augments."""
        from ..methods import METHODS
        if not METHODS[method].learns:
            return "none", 0
        if METHODS[method].encodes_images:
            return ("online" if self.augment != "none" else "none"), 0
        return self.augment, self.views

    def results_file(self, stem: str) -> Path:
        """This profile's default results file for `stem` (base2novel, ablation, transfer, ...):
        results/<profile>/<stem>.json, relative to the working directory ($DPT_RESULTS replaces `results`), so a
        command never writes into an installed package."""
        return Path(os.environ.get("DPT_RESULTS") or "results") / self.results / f"{stem}.json"

    def with_(self, **changes) -> "Profile":
        """This profile with some fields replaced (None values are ignored)."""
        from dataclasses import replace
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


DEFAULT_MINIATURE = "miniature-v1"  # what `--profile miniature` (and every default) means: docs/miniature.md


def _profiles() -> dict[str, Profile]:
    from ..data import (MINIATURE_DATASETS, MINIATURE_DOMAINS, MINIATURE_SOURCE, MINIATURE_V2_DATASETS,
                        MINIATURE_V2_DOMAINS, MINIATURE_V2_SOURCE)
    from .datasets import BENCHMARKS, IMAGENET_VARIANTS
    env = os.environ
    return {
        # the miniatures train with the library's defaults (TrainConfig's, then each method's train_defaults: what
        # RunConfig(method=...) trains); the real benchmarks with the references' recipes
        "miniature-v1": Profile("miniature-v1", "miniclip", "default", tuple(MINIATURE_DATASETS), "cpu", {},
                                transfer_source=MINIATURE_SOURCE,
                                transfer_targets=(MINIATURE_SOURCE, *MINIATURE_DOMAINS, *MINIATURE_DATASETS),
                                results="miniature-v1",
                                one_domain=(False, "two families per dataset, photographed differently")),
        "miniature-v2": Profile("miniature-v2", "miniclip-v2", "default", tuple(MINIATURE_V2_DATASETS), "cpu",
                                {}, transfer_source=MINIATURE_V2_SOURCE,
                                transfer_targets=(MINIATURE_V2_SOURCE, *MINIATURE_V2_DOMAINS,
                                                  *(d for d in MINIATURE_V2_DATASETS if d != MINIATURE_V2_SOURCE)),
                                results="miniature-v2", one_domain=(True, "nouns in alphabetical order, one rendering")),
        "real": Profile("real", "ViT-B-16", env.get("DPT_PRETRAINED") or "openai", tuple(BENCHMARKS), "cuda",
                        transfer_source="ImageNet",
                        transfer_targets=("ImageNet", *IMAGENET_VARIANTS, *(b for b in BENCHMARKS if b != "ImageNet")),
                        augment="online", use_recipes=True, results="real", course_datasets=REAL_COURSE_DATASETS),
    }


# The real path augments as the references do, a fresh crop + flip at every step ("online"): on the miniature no
# number of cached views could be told from online augmentation, nor could no augmentation at all
# (benchmarks/augment_views.py, results/miniature-v1/augment_choice.json), so that test cannot set V for ViT-B/16.
# `--augment views --views V` trades exactness for speed where a user has measured it.
PROFILE_NAMES = ("miniature", "miniature-v1", "miniature-v2", "real")
# The course on real CLIP: two benchmarks torchvision can download (in Colab: the notebooks' first cell), small
# enough for a session; DPT_DATASETS names others.
REAL_COURSE_DATASETS = ("DTD", "OxfordPets")


def get_profile(name: str | None = None) -> Profile:
    """A profile by name (default: $DPT_PROFILE, else 'miniature', which is DEFAULT_MINIATURE)."""
    name = (name or os.environ.get("DPT_PROFILE") or "miniature").lower()
    name = DEFAULT_MINIATURE if name == "miniature" else name
    profiles = _profiles()
    if name not in profiles:
        raise BadInput(f"unknown profile {name!r}; valid: {', '.join(PROFILE_NAMES)}")
    return profiles[name]


def profile_for_backbone(backbone: str) -> Profile:
    """The profile whose defaults fit `backbone`: a miniature for a miniclip, the real one otherwise."""
    for p in _profiles().values():
        if p.backbone == backbone:
            return p
    return get_profile("real")


def resolve_profile(profile=None, backbone_name=None, pretrained=None, device=None, augment=None, views=None):
    """A Profile or its name (default: the one for `backbone_name`, else $DPT_PROFILE or miniature),
    with the given fields replaced (augment without views: none unless it is "views")."""
    if isinstance(profile, str) or profile is None:
        profile = get_profile(profile) if profile or not backbone_name else profile_for_backbone(backbone_name)
    if augment is not None and views is None:
        views = profile.views if augment == "views" else 0
    return profile.with_(backbone=backbone_name, pretrained=pretrained, device=device, augment=augment, views=views)
