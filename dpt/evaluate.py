"""Scoring: per-image correctness, accuracy, the harmonic mean of base and novel accuracy."""
from __future__ import annotations

import torch

from .methods.base import PromptMethod


def harmonic_mean(base: float, novel: float) -> float:
    return 0.0 if base + novel == 0 else 2 * base * novel / (base + novel)


@torch.no_grad()
def correct(method: PromptMethod, data, labels: torch.Tensor | None = None, batch_size: int = 1024) -> torch.Tensor:
    """Per image, whether the top-1 prediction is right; `data`: a tensor with `labels`, a FeatureSet or ImageSet."""
    method.eval()
    device = method.hand.device
    text = None if method.text_per_image else method.text_features()
    batch_size = method.eval_batch_size or batch_size
    if isinstance(data, torch.Tensor):
        batches = (data[s:s + batch_size] for s in range(0, len(labels), batch_size))
    else:
        batches, labels = data.batches(batch_size), data.labels
    hits, seen = [], 0
    for x in batches:
        hits.append(method.logits(x.to(device), text).argmax(-1).cpu() == labels[seen:seen + len(x)])
        seen += len(x)
    return torch.cat(hits) if hits else torch.zeros(0, dtype=torch.bool)


def percent(hits: torch.Tensor) -> float:
    return 100.0 * int(hits.sum()) / max(1, len(hits))


def accuracy(method: PromptMethod, data, labels: torch.Tensor | None = None, batch_size: int = 1024) -> float:
    """Top-1 accuracy in percent (`data` as in `correct`)."""
    return percent(correct(method, data, labels, batch_size))


def score_images(method: PromptMethod, evaluation: dict) -> dict[str, torch.Tensor]:
    """Per-image correctness on each evaluation set, against its own class names; the method is left as it was."""
    trained = (method.classnames, method.template)
    hits = {}
    try:
        for name, es in evaluation.items():
            method.set_classnames(es.classnames, es.template)
            hits[name] = correct(method, es.data)
    finally:  # a failed evaluation (a bad image, an interrupt) leaves the method pointed at its own classes
        method.set_classnames(*trained)
    return hits


def score(method: PromptMethod, evaluation: dict) -> dict[str, float]:
    """Accuracy (%) on each evaluation set (see score_images)."""
    return {k: percent(v) for k, v in score_images(method, evaluation).items()}


def base_novel_scores(acc: dict[str, float]) -> dict:
    """Base and novel accuracy (2 decimals) and their harmonic mean."""
    return {"base": round(acc["base"], 2), "novel": round(acc["novel"], 2),
            "hm": round(harmonic_mean(acc["base"], acc["novel"]), 2)}
