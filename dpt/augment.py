"""Class-wise mixup of image features with a partner from another class (`across`) or the same
(`within`); targets are soft labels, so both prompt views' text targets are `y_mix @ t`."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Mixed:
    features: torch.Tensor  # [B, D]
    targets: torch.Tensor  # [B, C] soft labels, rows sum to 1
    lam: torch.Tensor  # [B]
    partner: torch.Tensor  # [B] index of the partner sample


def _partners(labels: torch.Tensor, mode: str, generator: torch.Generator | None) -> torch.Tensor:
    """A random partner per sample of another (across) or the same (within) class, else any other sample."""
    n = labels.shape[0]
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    allowed = ~same if mode == "across" else same & ~torch.eye(n, dtype=torch.bool, device=labels.device)
    fallback = ~torch.eye(n, dtype=torch.bool, device=labels.device) if n > 1 else torch.ones(n, n, dtype=torch.bool)
    allowed = torch.where(allowed.any(1, keepdim=True), allowed, fallback)
    scores = torch.rand(n, n, generator=generator, device="cpu").to(labels.device)
    return torch.where(allowed, scores, torch.full_like(scores, -1.0)).argmax(dim=1)


def _lambdas(n: int, alpha: float, generator, device) -> torch.Tensor:
    if alpha <= 0:
        raise ValueError("mixup alpha must be positive")
    g1 = torch._standard_gamma(torch.full((n,), alpha), generator=generator)  # Beta(a, a) = G1 / (G1 + G2)
    g2 = torch._standard_gamma(torch.full((n,), alpha), generator=generator)
    return (g1 / (g1 + g2)).to(device)


def classwise_mixup(features: torch.Tensor, labels: torch.Tensor, num_classes: int, alpha: float = 1.0,
                    mode: str = "across", generator: torch.Generator | None = None) -> Mixed:
    """Mixup of L2-normalised features, re-normalised; `generator` drives every draw (None: the global RNG)."""
    if mode not in ("across", "within"):
        raise ValueError(f"mixup mode must be 'across' or 'within', not {mode!r}")
    partner = _partners(labels, mode, generator)
    lam = _lambdas(len(labels), alpha, generator, features.device).to(features.dtype)
    mixed = F.normalize(lam[:, None] * features + (1 - lam[:, None]) * features[partner], dim=-1)
    onehot = F.one_hot(labels, num_classes).to(features.dtype)
    targets = lam[:, None] * onehot + (1 - lam[:, None]) * onehot[partner]
    return Mixed(mixed, targets, lam, partner)

