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
from ..data.dataset import ClassificationDataset
from ..methods import METHODS, method_fields

IDENTITY_VERSION = 1  # bump when the meaning of a field changes


def data_fingerprint(dataset: ClassificationDataset, splits=("train", "val", "test")) -> str:
    """Hash of the class names, template and every split's items (file sizes and mtimes for files)."""
    h = hashlib.sha256(f"{dataset.name}|{dataset.template}".encode())
    for split in splits:
        h.update(dataset.fingerprint(split).encode())
    return h.hexdigest()[:16]


def run_identity(run, dataset: ClassificationDataset, backbone, device: str) -> dict:
    """The identity of one training run (`run` is an evaluate.RunConfig). A method that learns
    nothing (zero-shot) has no training config or shots in its identity: they do not change its number."""
    learns = METHODS[run.method].learns
    identity = {
        "version": IDENTITY_VERSION,
        "method": run.method,
        "method_config": method_fields(run.method, run.method_cfg),
        "train": asdict(run.train) if learns else None,
        "shots": run.shots if learns else None,
        "seed": run.train.seed,
        "views": run.views,
        "split": run.eval_split,
        "dataset": dataset.name,
        "data": data_fingerprint(dataset),
        "backbone": backbone.name,
        "weights": weights_fingerprint(backbone),
        "device": torch.device(device).type,  # CPU fp32 and CUDA mixed precision give different numbers
    }
    if run.classes != "base":  # trained on all classes (transfer, few-shot); base-to-novel ids stay as they were
        identity["classes"] = run.classes
    return identity


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
