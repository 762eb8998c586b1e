"""One place for defaults: typed configs from dicts, and the profiles (backbone, weights, datasets,
device, training defaults) that every entry point reads.

Precedence of training settings, lowest first: `TrainConfig`'s field defaults, the profile's
`train` (e.g. the miniature's 30 epochs), the method class's `train_defaults` (e.g. CoCoOp's batch
size of 8), then the user's overrides (`--epochs`, `--train-set`).
"""
from __future__ import annotations

import os
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import BadInput


def _accepts(hint, value) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(h, value) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is not None:
        return isinstance(value, origin)
    return isinstance(value, hint)


def from_dict(cls, d: dict, what: str):
    """Build dataclass `cls` from `d`, refusing unknown keys and values of the wrong type."""
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls) if f.init]
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise BadInput(f"unknown {what} option(s) {unknown}; valid: {', '.join(known)}")
    for k, v in d.items():
        if not _accepts(hints[k], v):
            raise BadInput(f"{what} option {k}={v!r} must be of type {getattr(hints[k], '__name__', hints[k])}, "
                           f"not {type(v).__name__}")
    return cls(**{k: float(v) if hints[k] is float else v for k, v in d.items()})


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BadInput(message)


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
        from .methods import METHODS
        from .trainer import TrainConfig
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
    from .data import BENCHMARKS, IMAGENET_VARIANTS, MINIATURE_DATASETS, MINIATURE_DOMAINS, MINIATURE_SOURCE
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
