"""Class-wise augmentation from the visual modality: mixup of image features (or pixels).

For a sample (v_i, y_i) and a partner (v_j, y_j) from another class (`across`) or the same class
(`within`), with lambda ~ Beta(alpha, alpha):

    v_mix = normalise(lambda v_i + (1 - lambda) v_j),   y_mix = lambda e_{y_i} + (1 - lambda) e_{y_j}

Targets are soft label vectors, so the text-side targets of both prompt views are `y_mix @ t`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Mixed:
    features: torch.Tensor  # [B, D] (or images [B, 3, H, W] for pixel mixup)
    targets: torch.Tensor  # [B, C] soft labels, rows sum to 1
    lam: torch.Tensor  # [B]
    partner: torch.Tensor  # [B] index of the partner sample


def _partners(labels: torch.Tensor, mode: str, generator: torch.Generator | None) -> torch.Tensor:
    """For each sample, a random partner index: of another class (across) or the same class (within).
    Where the batch has no such partner, falls back to any other sample: with one class in the batch,
    `across` therefore mixes same-class pairs (within-class mixup); a batch of one mixes a sample with itself."""
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
    """Feature-level mixup of L2-normalised image features; returns re-normalised mixed features.
    `generator` drives every random draw (partners and lambda); None uses the global RNG. With a single
    class in the batch, `across` falls back to same-class partners (see `_partners`)."""
    if mode not in ("across", "within"):
        raise ValueError(f"mixup mode must be 'across' or 'within', not {mode!r}")
    partner = _partners(labels, mode, generator)
    lam = _lambdas(len(labels), alpha, generator, features.device).to(features.dtype)
    mixed = F.normalize(lam[:, None] * features + (1 - lam[:, None]) * features[partner], dim=-1)
    onehot = F.one_hot(labels, num_classes).to(features.dtype)
    targets = lam[:, None] * onehot + (1 - lam[:, None]) * onehot[partner]
    return Mixed(mixed, targets, lam, partner)


def pixel_mixup(images: torch.Tensor, labels: torch.Tensor, num_classes: int, alpha: float = 1.0,
                mode: str = "across", generator: torch.Generator | None = None) -> Mixed:
    """The same class-wise mixup on raw images, for training with the image encoder in the loop."""
    partner = _partners(labels, mode, generator)
    lam = _lambdas(len(labels), alpha, generator, images.device).to(images.dtype)
    mixed = lam.view(-1, 1, 1, 1) * images + (1 - lam.view(-1, 1, 1, 1)) * images[partner]
    onehot = F.one_hot(labels, num_classes).to(images.dtype)
    targets = lam[:, None] * onehot + (1 - lam[:, None]) * onehot[partner]
    return Mixed(mixed, targets, lam, partner)
