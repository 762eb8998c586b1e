"""A disk cache of frozen image features, so training never runs the image encoder twice (and, for
methods that prompt the image encoder, the preprocessed images they run it on).

Features of (backbone, dataset split, transform, augmented view) are computed once and stored under
`cache_dir` in a file named by a hash of everything that affects them. Files are written to a
temporary name and renamed into place, so a crash mid-write never leaves a file that could be read.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from tqdm.auto import tqdm

from .backbones import Backbone, weights_fingerprint
from .data.dataset import ClassificationDataset, Item
from .files import atomic_save


def default_cache_dir() -> Path:
    return Path(os.environ.get("DPT_CACHE", Path.home() / ".cache" / "dpt"))


@dataclass
class FeatureSet:
    features: torch.Tensor  # [N, D] L2-normalised, float32 (or [V, N, D] for several views)
    labels: torch.Tensor  # [N]


def cache_key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


@torch.no_grad()
def _encode(backbone: Backbone | None, dataset: ClassificationDataset, items: Sequence[Item], transform,
            batch_size: int, desc: str, progress: bool) -> torch.Tensor:
    """Image features of `items` (or, with no backbone, the preprocessed images themselves)."""
    out = []
    for start in tqdm(range(0, len(items), batch_size), desc=desc, disable=not progress, leave=False):
        x = torch.stack([transform(dataset.load_image(it)) for it in items[start:start + batch_size]])
        out.append(backbone.encode_images(x).cpu() if backbone is not None else x)
    return torch.cat(out) if out else torch.empty(0, backbone.embed_dim if backbone else 0)


def _views(views: int, seed: int, encode) -> torch.Tensor:
    """encode(train transform) once per view, each view seeded by (seed, view); the global RNG is restored."""
    rng_state = torch.random.get_rng_state()
    stacked = []
    for v in range(views):
        torch.manual_seed(hash((seed, v)) % (2**31))
        stacked.append(encode(v))
    torch.random.set_rng_state(rng_state)
    return torch.stack(stacked)


def image_pixels(backbone: Backbone, dataset: ClassificationDataset, items: Sequence[Item], *, views: int = 0,
                 seed: int = 0, batch_size: int = 256, progress: bool = True) -> FeatureSet:
    """Preprocessed images [N, 3, H, W] (or [V, N, 3, H, W]) of `items`, for methods that run the image
    encoder themselves (visual prompts). They stay in memory: about 0.6 MB per 224-px image."""
    labels = torch.tensor([it.label for it in items], dtype=torch.long)
    desc = f"loading {dataset.name} images"
    if views == 0:
        return FeatureSet(_encode(None, dataset, items, backbone.preprocess, batch_size, desc, progress), labels)
    return FeatureSet(_views(views, seed, lambda v: _encode(None, dataset, items, backbone.train_preprocess,
                                                           batch_size, f"{desc} view {v + 1}/{views}", progress)),
                      labels)


def image_features(backbone: Backbone, dataset: ClassificationDataset, split: str, *, views: int = 0, seed: int = 0,
                   cache_dir: str | Path | None = None, batch_size: int = 256, progress: bool = True,
                   use_cache: bool = True) -> FeatureSet:
    """Features of every image of a split.

    views=0: one deterministic view with the evaluation transform, features [N, D].
    views=V>0: V random-resized-crop + flip views per image (seeded), features [V, N, D].
    """
    items = dataset.split(split)
    labels = torch.tensor([it.label for it in items], dtype=torch.long)
    key = cache_key(backbone=weights_fingerprint(backbone), dataset=dataset.fingerprint(split), views=views,
                    seed=seed if views else None,
                    transform=repr(backbone.train_preprocess if views else backbone.preprocess))
    path = Path(cache_dir or default_cache_dir()) / f"{dataset.name}-{dataset.subset}-{split}-{key}.pt"
    if use_cache and path.is_file():
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            if stored["features"].shape[-2] == len(items):
                return FeatureSet(stored["features"], stored["labels"])
        except Exception:  # unreadable: recompute and overwrite
            pass
    desc = f"encoding {dataset.name}/{split}"
    if views == 0:
        feats = _encode(backbone, dataset, items, backbone.preprocess, batch_size, desc, progress)
    else:
        feats = _views(views, seed, lambda v: _encode(backbone, dataset, items, backbone.train_preprocess, batch_size,
                                                      f"{desc} view {v + 1}/{views}", progress))
    if use_cache:
        try:
            atomic_save({"features": feats, "labels": labels}, path)
        except OSError as e:  # read-only or full cache folder: the features are still good, just not kept
            warnings.warn(f"cannot write the feature cache at {path.parent} ({e.strerror or e}); running without "
                          "it. Set DPT_CACHE (or --cache-dir) to a writable folder to keep features.", stacklevel=2)
    return FeatureSet(feats, labels)
