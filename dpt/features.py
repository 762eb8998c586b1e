"""Frozen image features, encoded once per image and cached on disk (keyed by the image, the weights and the
transform), so training never runs the image encoder twice on a picture and reads only the images it uses."""
from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from .backbones import Backbone, weights_fingerprint
from .data.dataset import ClassificationDataset, Item, file_stamp
from .errors import BadInput
from .files import atomic_save, locked, ours_by_path


CACHE_DIR: Path | None = None  # where features are cached when a call gives no cache_dir (None: ~/.cache/dpt)


def set_cache_dir(folder) -> None:
    """Where features are cached when a call gives no cache_dir (the library reads no environment; the commands
    set it). None: back to ~/.cache/dpt."""
    global CACHE_DIR
    if folder is not None and not str(folder).strip():
        raise BadInput("an empty path was given for the feature cache; give a folder")
    CACHE_DIR = None if folder is None else Path(folder).expanduser()


def cache_folder() -> Path:
    """The folder of the feature cache now (home is looked up only here: a container may have none)."""
    return CACHE_DIR or Path.home() / ".cache" / "dpt"


def default_workers() -> int:
    """DataLoader worker processes for decoding images: one fewer than the CPUs (at most 8), 0 on one CPU."""
    return min(8, max(0, (os.cpu_count() or 1) - 1))


def _digest(text: str, n: int = 24) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def item_key(dataset: ClassificationDataset, item: Item, view: int | None = None) -> str:
    """What identifies an image's pixels: a replaced file (other size or time) is a new image."""
    key = f"{dataset.name}|{_digest(dataset.meta, 12)}|{item.source!r}|{file_stamp(item.source)}"
    return key if view is None else f"{key}#view{view}"


def view_seed(key: str) -> int:
    return int(_digest(key, 15), 16)


def seed_key(dataset: ClassificationDataset, item: Item, view: int | None = None) -> str:
    """What seeds an image's augmentation: where it sits in the dataset, not its absolute path, so a copy of the
    data trains on the same crops."""
    src = item.source
    where = f"{Path(src).parent.name}/{Path(src).name}" if isinstance(src, (str, os.PathLike)) else repr(src)
    key = f"{dataset.name}|{_digest(dataset.meta, 12)}|{where}"
    return key if view is None else f"{key}#view{view}"


class _Images(torch.utils.data.Dataset):
    """A dataset's items as transformed tensors, each drawn with its own seed (same picture in any process)."""

    def __init__(self, dataset: ClassificationDataset, items: Sequence[Item], transform: Callable,
                 seeds: Sequence[int] | None = None):
        self.dataset, self.items, self.transform, self.seeds = dataset, list(items), transform, seeds

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> torch.Tensor:
        image = self.dataset.load_image(self.items[i])
        if self.seeds is None:
            return self.transform(image)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seeds[i])
            return self.transform(image)


def image_batches(dataset: ClassificationDataset, items: Sequence[Item], transform: Callable, batch_size: int,
                  seeds: Sequence[int] | None = None, workers: int | None = None) -> Iterator[torch.Tensor]:
    """Transformed images of `items`, in order, `batch_size` at a time, decoded in DataLoader workers."""
    workers = default_workers() if workers is None else workers
    data = _Images(dataset, items, transform, seeds)
    if workers == 0 or len(items) <= batch_size:
        for s in range(0, len(items), batch_size):
            yield torch.stack([data[i] for i in range(s, min(len(items), s + batch_size))])
        return
    # its own generator: a loader must not draw from the global RNG (the trainer seeds mixup's draws there)
    yield from torch.utils.data.DataLoader(data, batch_size=batch_size, num_workers=workers, shuffle=False,
                                           generator=torch.Generator().manual_seed(0))


@dataclass
class FeatureSet:
    features: torch.Tensor  # [N, D] L2-normalised, float32 (or [V, N, D] for several views)
    labels: torch.Tensor  # [N]

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        for s in range(0, len(self.labels), batch_size):
            yield self.features[s:s + batch_size]


@dataclass
class ImageSet:
    """Preprocessed images loaded in batches when scored, for methods that run the image encoder."""
    dataset: ClassificationDataset
    items: tuple[Item, ...]
    transform: Callable
    labels: torch.Tensor

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        return image_batches(self.dataset, self.items, self.transform, batch_size)


def image_pixels(backbone: Backbone, dataset: ClassificationDataset, items: Sequence[Item], *, views: int = 0,
                 batch_size: int = 256, progress: bool = True) -> FeatureSet:
    """Preprocessed images [N, 3, H, W] (or [V, N, 3, H, W] views) in memory: a few shots per class."""
    labels = torch.tensor([it.label for it in items], dtype=torch.long)

    def load(transform, seeds):
        out = list(image_batches(dataset, items, transform, batch_size, seeds))
        return torch.cat(out) if out else torch.empty(0)
    if views == 0:
        return FeatureSet(load(backbone.preprocess, None), labels)
    return FeatureSet(torch.stack([load(backbone.train_preprocess, [view_seed(seed_key(dataset, it, v)) for it in items])
                                   for v in range(views)]), labels)


def _checksum(features: torch.Tensor, keys=()) -> str:
    h = hashlib.sha256("\n".join(keys).encode())
    h.update(features.contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


class FeatureCache:
    """One file of per-image features for (backbone weights, transform, dataset): {"keys", "features", "checksum"}."""

    def __init__(self, backbone: Backbone, dataset: ClassificationDataset, transform: Callable, cache_dir=None):
        key = _digest(f"{weights_fingerprint(backbone)}|{transform!r}|{dataset.name}|{dataset.meta}")
        self.path = Path(cache_dir or cache_folder()) / f"{dataset.name}-{key}.pt"

    def read(self) -> dict[str, torch.Tensor]:
        if not self.path.is_file():
            return {}
        try:
            stored = torch.load(self.path, map_location="cpu", weights_only=True)
            feats = stored["features"]
            if len(stored["keys"]) != len(feats) or stored["checksum"] != _checksum(feats, stored["keys"]):
                raise ValueError("checksum mismatch")
        except Exception as e:  # unreadable, truncated or altered: encode again and replace it
            warnings.warn(f"ignoring the feature cache file {self.path} ({type(e).__name__}: {e}); its images are "
                          "encoded again", stacklevel=3)
            return {}
        return dict(zip(stored["keys"], feats))

    def add(self, new: dict[str, torch.Tensor]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with locked(self.path):  # another process may have added features meanwhile: merge, then replace
                merged = {**self.read(), **new}
                feats = torch.stack(list(merged.values())) if merged else torch.empty(0)
                atomic_save({"keys": list(merged), "features": feats, "checksum": _checksum(feats, list(merged))},
                            self.path, kind="feature cache", own=ours_by_path)
        except OSError as e:  # read-only or full cache folder: the features are still good, just not kept
            warnings.warn(f"cannot write the feature cache at {self.path.parent} ({e.strerror or e}); running without "
                          "it. Give a writable cache_dir (or set_cache_dir) to keep features.", stacklevel=3)


@torch.no_grad()
def _encode(backbone: Backbone, dataset: ClassificationDataset, items: Sequence[Item], transform, seeds,
            batch_size: int, desc: str, progress: bool) -> torch.Tensor:
    """Image features [len(items), D] of `items` (seeded transforms where `seeds` is given)."""
    out = []
    bar = tqdm(total=len(items), desc=desc, disable=not progress, leave=False, unit="img")
    for x in image_batches(dataset, items, transform, batch_size, seeds):
        out.append(backbone.encode_images(x).cpu())
        bar.update(len(x))
    bar.close()
    return torch.cat(out) if out else torch.empty(0, backbone.embed_dim)


def encode_items(backbone: Backbone, dataset: ClassificationDataset, items: Sequence[Item], *, view: int | None = None,
                 cache_dir=None, batch_size: int = 256, progress: bool = True, use_cache: bool = True) -> torch.Tensor:
    """Features [len(items), D] through the per-image cache; view: None (evaluation transform) or v >= 0."""
    transform = backbone.preprocess if view is None else backbone.train_preprocess
    keys = [item_key(dataset, it, view) for it in items]
    cache = FeatureCache(backbone, dataset, transform, cache_dir) if use_cache else None
    known = cache.read() if cache else {}
    todo = [i for i, k in enumerate(keys) if k not in known]
    if todo:
        seeds = None if view is None else [view_seed(seed_key(dataset, items[i], view)) for i in todo]
        what = "" if view is None else f" view {view + 1}"
        feats = _encode(backbone, dataset, [items[i] for i in todo], transform, seeds, batch_size,
                        f"encoding {dataset.name}{what}", progress)
        new = {keys[i]: f for i, f in zip(todo, feats)}
        known.update(new)
        if cache:
            cache.add(new)
    if not keys:
        return torch.empty(0, backbone.embed_dim)
    return torch.stack([known[k] for k in keys])


def image_features(backbone: Backbone, dataset: ClassificationDataset, split: str | None = None, *, views: int = 0,
                   items: Sequence[Item] | None = None, cache_dir=None, batch_size: int = 256, progress: bool = True,
                   use_cache: bool = True) -> FeatureSet:
    """Features of a split's images (or `items`): [N, D], or [V, N, D] seeded augmented views with views=V."""
    items = list(dataset.split(split) if items is None else items)
    labels = torch.tensor([it.label for it in items], dtype=torch.long)
    kw = dict(cache_dir=cache_dir, batch_size=batch_size, progress=progress, use_cache=use_cache)
    if views == 0:
        return FeatureSet(encode_items(backbone, dataset, items, **kw), labels)
    return FeatureSet(torch.stack([encode_items(backbone, dataset, items, view=v, **kw) for v in range(views)]), labels)
