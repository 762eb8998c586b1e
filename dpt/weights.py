"""Weights on disk and in memory: reading a checkpoint file once, and fingerprinting a model's weights (a run's
identity records the fingerprint, so two runs on other weights never share a row)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from .errors import DptError


class BackboneUnavailable(DptError, RuntimeError):
    """The requested weights cannot be loaded here; the message says what to do."""


def load_state_dict(path: Path) -> dict:
    """A checkpoint's state dict, read once (memory-mapped where torch can: a 600 MB file is not copied)."""
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):
                raise
            obj = torch.load(path, map_location="cpu", weights_only=True)  # an old (non-zip) checkpoint
    except Exception as e:  # truncated zip, wrong format, ...
        raise BackboneUnavailable(
            f"checkpoint file {path} is corrupt or not a PyTorch checkpoint ({type(e).__name__}: {e}). "
            "Re-download it, or for the miniature restore it with `git checkout dpt/assets/` "
            "or regenerate it with `python -m dpt pretrain`.") from e
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise BackboneUnavailable(f"checkpoint file {path} holds no state dict")
    if not tensors(state):  # checked here, so that no loader reaches `.float()` or a copy with it
        wrong = next((k, v) for k, v in state.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor)))
        raise BackboneUnavailable(f"checkpoint file {path} is not a model checkpoint: its state dict holds "
                                  f"{type(wrong[1]).__name__} {str(wrong[0])[:60]!r}, not a tensor; pass a checkpoint "
                                  "of model weights (a saved model.state_dict())")
    return {k.removeprefix("module."): v for k, v in state.items()}


def tensors(state) -> bool:
    """Whether `state` is a state dict: names to tensors (what every loader checks before `.float()` or a copy)."""
    return isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())


def weights_fingerprint(backbone) -> str:
    """sha256 of the backbone's tensors, rehashed only when one changed (PyTorch's `_version`)."""
    state = backbone.model.state_dict()
    stamp = tuple((t.data_ptr(), t._version) for t in state.values())
    if backbone._fingerprint is None or backbone._fingerprint[0] != stamp:
        h = hashlib.sha256(backbone.name.encode())
        for k, v in state.items():
            t = v.detach().to("cpu").contiguous().reshape(-1)
            h.update(f"{k}|{tuple(t.shape)}|{t.dtype}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        backbone._fingerprint = (stamp, h.hexdigest()[:16])
    return backbone._fingerprint[1]
