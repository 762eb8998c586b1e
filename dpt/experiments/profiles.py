"""One place for defaults: the profiles (backbone, weights, datasets, device, training defaults) that
every entry point reads: the command line, the ablation, the tuner and the notebooks.

Precedence of training settings, lowest first: `TrainConfig`'s field defaults, the profile's
`train` (e.g. the miniature's 30 epochs), the method class's `train_defaults` (e.g. CoCoOp's batch
size of 8), then the user's overrides (`--epochs`, `--train-set`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..config import from_dict
from ..errors import BadInput


@dataclass(frozen=True)
class Profile:
    """Everything a run needs that is not a method knob: which CLIP, which weights, which data, where."""
    name: str
    backbone: str
    pretrained: str | None  # open_clip tag, checkpoint path, "default" (shipped/openai) or None (random init)
    datasets: tuple[str, ...]
    device: str
    train: dict = field(default_factory=dict)  # TrainConfig overrides for this profile
    shots: int = 16
    transfer_source: str = ""  # transfer / domain generalisation: the dataset trained on (all classes) ...
    transfer_targets: tuple[str, ...] = ()  # ... and the datasets scored (the source itself first)

    def train_config(self, method: str, seed: int, overrides: dict | None = None):
        """The TrainConfig of `method` under this profile, with the user's overrides on top."""
        from ..methods import METHODS
        from ..trainer import TrainConfig
        defaults = getattr(METHODS.get(method), "train_defaults", {})
        return from_dict(TrainConfig, {**self.train, **defaults, **(overrides or {}), "seed": seed}, "training")

    def with_(self, **changes) -> "Profile":
        """This profile with some fields replaced (None values are ignored)."""
        from dataclasses import replace
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def default_device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def _profiles() -> dict[str, Profile]:
    from ..data import BENCHMARKS, IMAGENET_VARIANTS, MINIATURE_DATASETS, MINIATURE_DOMAINS, MINIATURE_SOURCE
    return {
        # epochs chosen on the miniature's val split (README); CoOp's 50 for the real benchmarks
        "miniature": Profile("miniature", "miniclip", "default", tuple(MINIATURE_DATASETS), "cpu", {"epochs": 30},
                             transfer_source=MINIATURE_SOURCE,
                             transfer_targets=(MINIATURE_SOURCE, *MINIATURE_DOMAINS, *MINIATURE_DATASETS)),
        "real": Profile("real", "ViT-B-16", "openai", tuple(BENCHMARKS), "cuda", {"epochs": 50},
                        transfer_source="ImageNet",
                        transfer_targets=("ImageNet", *IMAGENET_VARIANTS, *(b for b in BENCHMARKS if b != "ImageNet"))),
    }


def get_profile(name: str | None = None) -> Profile:
    """A profile by name (default: $DPT_PROFILE, else 'miniature')."""
    name = (name or os.environ.get("DPT_PROFILE") or "miniature").lower()
    profiles = _profiles()
    if name not in profiles:
        raise BadInput(f"unknown profile {name!r}; valid: {', '.join(profiles)}")
    return profiles[name]


def profile_for_backbone(backbone: str) -> Profile:
    """The profile whose defaults fit `backbone`: the miniature for miniclip, the real one otherwise."""
    return get_profile("miniature" if backbone == "miniclip" else "real")


def resolve_profile(profile=None, backbone_name=None, pretrained=None, device=None):
    """A Profile or its name (default: the one for `backbone_name`, else $DPT_PROFILE or miniature),
    with the given fields replaced."""
    if isinstance(profile, str) or profile is None:
        profile = get_profile(profile) if profile or not backbone_name else profile_for_backbone(backbone_name)
    return profile.with_(backbone=backbone_name, pretrained=pretrained, device=device)
