"""Run identity: everything that changes a number, hashed into one id.

A result row is reused only when a new run has the same identity, so the identity must cover the
method and the options it reads, the training config, shots, seed, split, the dataset and a
fingerprint of its data, and the backbone and a fingerprint of its weights. Code version and time
are provenance (stored beside the identity), not identity: they do not make a row stale.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..backbones import weights_fingerprint
from ..data.dataset import ClassificationDataset, file_stamp
from ..errors import MissingData
from ..methods import METHODS, method_fields
from ..precision import resolved_precision

# Bump when the meaning of a field changes, so that no stored row is reused for a run that would now give
# another number. 2: the trainer's schedule became Dassl's (version 1 ran the cosine one epoch ahead), and the
# training augmentation (`augment`, `views`) joined the identity.
IDENTITY_VERSION = 2


def split_fingerprint(dataset: ClassificationDataset, split: str) -> str:
    """Hash of a split's images and labels (a replaced file changes it), for run identities."""
    h = hashlib.sha256(f"{dataset.name}|{dataset.subset}|{split}|{dataset.classnames}|{dataset.meta}".encode())
    missing = []
    for it in dataset.split(split):
        try:
            h.update(f"{it.source!r}:{it.label}:{file_stamp(it.source)};".encode())
        except MissingData:
            missing.append(str(it.source))
    if missing:
        raise MissingData(f"{dataset.name}: {len(missing)} image file(s) of its {split} split do not exist "
                          f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); restore them, or "
                          "remove their entries from the split file (`python -m dpt data` lists what is there)")
    return h.hexdigest()[:16]


def data_fingerprint(dataset: ClassificationDataset, splits=("train", "val", "test")) -> str:
    """Hash of the class names, template and every split's items (file sizes and mtimes for files)."""
    h = hashlib.sha256(f"{dataset.name}|{dataset.template}".encode())
    for split in splits:
        h.update(split_fingerprint(dataset, split).encode())
    return h.hexdigest()[:16]


def run_identity(run, dataset: ClassificationDataset, backbone, device: str) -> dict:
    """The identity of one training run (`run` is a dpt.run.RunConfig). A method that learns nothing
    (zero-shot) has no training config, shots or augmentation in its identity: they do not change its number."""
    learns = METHODS[run.method].learns
    identity = {
        "version": IDENTITY_VERSION,
        "method": run.method,
        "method_config": method_fields(run.method, run.method_cfg),
        "train": asdict(run.train) if learns else None,
        "shots": run.shots if learns else None,
        "seed": run.train.seed,
        "augment": run.augment if learns else None,
        "views": run.views if learns else None,
        "split": run.eval_split,
        "dataset": dataset.name,
        "data": data_fingerprint(dataset),
        "backbone": backbone.name,
        "weights": weights_fingerprint(backbone),
        "device": torch.device(device).type,  # CPU fp32 and CUDA mixed precision give different numbers
        "precision": resolved_precision(device, run.train.precision) if learns else None,
    }
    if run.classes != "base":  # trained on all classes (transfer, few-shot); base-to-novel ids stay as they were
        identity["classes"] = run.classes
    return identity


def portable_path(source: str) -> str:
    """A weights source as a row may store it: paths inside the project (or the installed package's assets)
    relative to it, so that no row records one machine's folders; tags and other paths as they are."""
    root = Path(__file__).resolve().parents[2]
    path = Path(source)
    if not path.is_absolute():
        return source
    for base, prefix in ((root, ""), (Path(__file__).resolve().parents[1], "dpt/")):
        try:
            return prefix + str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return path.name if path.is_file() else source


def run_id(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(**extra) -> dict:
    """Which code made a row, and when (not part of the identity); `extra`: where it ran."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        dpt_version = version("dpt")
    except PackageNotFoundError:
        dpt_version = None
    return {"dpt": dpt_version, "commit": _git_commit(), "torch": torch.__version__,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra}
