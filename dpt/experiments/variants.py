"""The variants of dpt that its pre-registered search on val rejected, kept in the lab so that their stored rows can
be reproduced and the ablation rerun (docs/method.md has their numbers). Importing the lab (`dpt.experiments`)
registers them: `build_method("dpt", ...)` then picks `DualViewVariants` where a config switches one on.

exploration (`mi_visual`)     a second MI term, between the class-wise mixed image features and their mixed soft
                              (or "fused") text features, so the visual augmentation enters an MI term, not only CE
adaptive anchor (`anchor`)    each class's MI pair weighted by how right the hand-crafted view is on that class's
                              training shots ("accuracy" or "confidence"; kept with the prompt)
shots ensemble (`ensemble_from="shots"`)  the inference weight of the hand-crafted view from the two views'
                              accuracies on the training shots
dpt_hand_ensemble             the hand-crafted view as a template ensemble instead of one template
alignment (`mi_estimator`)    InfoNCE's positive term alone, the ablation of what its negatives add
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..methods.base import ensembled
from ..methods.dual_view import DualViewPrompt
from ..methods.registry import VARIANTS, register
from ..mi import OBJECTIVES, InfoNCE, MIEstimator, make_estimator
from ..prompts import CLIP_IMAGENET_TEMPLATES, hand_crafted_features


class Alignment(MIEstimator):
    """InfoNCE's positive term alone (no negatives): the ablation of what negatives add. Not an MI bound."""

    def __init__(self, critic: nn.Module):
        super().__init__(critic)
        self.critic.requires_grad_(False)

    def bound(self, scores):
        positive = scores.diag().mean()
        return positive, positive.detach()


OBJECTIVES["alignment"] = Alignment  # the ablation "mi_alignment" (dpt/experiments/ablation.py)


def register_variant(of: str):
    """Class decorator: run method `of` with this subclass wherever `cls.applies(cfg)` (the method's own module
    stays the one the course teaches, and the variants' rows keep their identity)."""
    def add(cls: type) -> type:
        VARIANTS.setdefault(of, []).append(cls)
        return cls
    return add


def training_batches(data, batch_size: int = 512):
    """(inputs, labels) of every sample of a training set, in order, as epoch 0 shows them."""
    order = torch.arange(len(data.labels))
    for s, x in enumerate(data.batches(0, order, batch_size)):
        yield x, data.labels[s * batch_size:(s + 1) * batch_size]


def weighted_infonce(estimator, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor):
    """InfoNCE with pair i counted w_i times (the adaptive anchor); the estimate read out is the plain bound."""
    scores = estimator.scores(x, y)
    if not isinstance(estimator, InfoNCE):
        raise ValueError(f"{type(estimator).__name__} takes no per-pair weights (the adaptive anchor needs infonce)")
    n = scores.shape[0]
    per_pair = scores.diag() - torch.logsumexp(scores, dim=1) + math.log(n)
    return (weights * per_pair).sum() / n, per_pair.mean().detach()


@register_variant(of="dpt")
class DualViewVariants(DualViewPrompt):
    """dpt with the rejected variants' knobs (`mi_visual`, `anchor`, `ensemble_from`) read."""

    def __init__(self, backbone, classnames, template, cfg):
        super().__init__(backbone, classnames, template, cfg)
        if cfg.mi_visual != "none":
            self.mi_visual = make_estimator("infonce", backbone.embed_dim, backbone.embed_dim, critic="dot").to(
                backbone.device)
        # what the run derives from its training shots (never from val or test): saved with the prompt
        self.register_buffer("anchor_weights", torch.ones(len(self.classnames), device=backbone.device))
        self.register_buffer("ensemble_weight", torch.tensor(float(cfg.ensemble), device=backbone.device))

    @classmethod
    def applies(cls, cfg) -> bool:
        return (cfg.mi_visual, cfg.anchor, cfg.ensemble_from) != ("none", "fixed", "fixed")

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "anchor_weights"
        if key in state_dict:  # the anchor of the classes it was trained on, whichever classes it points at now
            self.anchor_weights = torch.empty_like(state_dict[key], device=self.anchor_weights.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def fused_weight(self) -> float:
        """The hand-crafted view's share in the fused view of `mi_visual="fused"`: the inference ensemble's weight,
        or an even mix (0.5) where the ensemble is off (ensemble=0, where the fused view would be the soft one)."""
        return float(self.ensemble_weight) or 0.5

    def critic_parameters(self):
        return super().critic_parameters() + (list(self.mi_visual.parameters()) if hasattr(self, "mi_visual") else [])

    def text_features(self):
        return ensembled(self.soft_features(), self.hand, float(self.ensemble_weight))

    @torch.no_grad()
    def _view_accuracy(self, data, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per class of the training set: the view's accuracy and mean probability of the true class."""
        n_cls = len(self.classnames)
        hits, prob, count = (torch.zeros(n_cls, device=text.device) for _ in range(3))
        for x, y in training_batches(data):
            x, y = x.to(text.device), y.to(text.device)
            p = (self.logit_scale * x @ text.T).softmax(-1)
            hits.index_add_(0, y, (p.argmax(-1) == y).float())
            prob.index_add_(0, y, p.gather(1, y[:, None]).squeeze(1))
            count.index_add_(0, y, torch.ones_like(y, dtype=torch.float))
        count = count.clamp_min(1)
        return hits / count, prob / count

    def begin_training(self, data):
        if self.cfg.anchor != "fixed":
            acc, conf = self._view_accuracy(data, self.hand)
            self.anchor_weights = (acc if self.cfg.anchor == "accuracy" else conf).clone()  # the trained classes'
        elif len(self.anchor_weights) != len(self.classnames):
            self.anchor_weights = torch.ones(len(self.classnames), device=self.anchor_weights.device)

    def end_training(self, data):
        if self.cfg.ensemble_from == "shots":
            hand, _ = self._view_accuracy(data, self.hand)
            soft, _ = self._view_accuracy(data, self.soft_features().detach())
            a_hand, a_soft = float(hand.mean()), float(soft.mean())
            self.ensemble_weight.fill_(a_hand / (a_hand + a_soft) if a_hand + a_soft > 0 else 0.0)

    def mi_objective(self, soft_pairs, hand_pairs, mix):
        if self.cfg.anchor == "fixed":
            return self.mi(soft_pairs, hand_pairs)
        weights = [self.anchor_weights]  # each pair's share of the bound: the hand-crafted view's right-ness
        if mix is not None and self.cfg.mixup_in_mi:
            weights.append(mix.targets @ self.anchor_weights)
        return weighted_infonce(self.mi, soft_pairs, hand_pairs, torch.cat(weights))

    def extra_terms(self, loss, terms, image_features, labels, soft, mix):
        c = self.cfg
        if c.mi_visual == "none" or c.mi_visual_weight == 0:
            return loss, terms
        v, targets = (mix.features, mix.targets) if mix is not None else (
            image_features, F.one_hot(labels, len(self.classnames)).to(soft.dtype))
        view = soft if c.mi_visual == "soft" else ensembled(soft, self.hand, self.fused_weight())
        objective_v, terms["mi_visual"] = self.mi_visual(v.to(soft.dtype), F.normalize(targets @ view, dim=-1))
        return loss - c.mi_visual_weight * objective_v, terms


@register
class DualViewEnsemble(DualViewVariants):
    """dpt whose hand-crafted view is a template ensemble (the ablation: does a richer second view help?). On
    miniclip, the dataset's template in every phrasing of its style that the pretraining captions use; on CLIP,
    CLIP's 60 ImageNet templates (PromptSRC's). The ensembled view replaces the single template wherever dpt reads
    the hand-crafted view: in the MI term and in the inference ensemble (with ensemble > 0, test-time class features
    mix the soft view with this ensembled view)."""
    name = "dpt_hand_ensemble"

    def set_classnames(self, classnames, template=None):
        super().set_classnames(classnames, template)
        from ..data.world import phrasing_ensemble
        templates = (phrasing_ensemble(self.template) if self.backbone.name.startswith("miniclip") else None) \
            or CLIP_IMAGENET_TEMPLATES
        self.register_buffer("hand", hand_crafted_features(self.backbone, self.classnames, templates), persistent=False)
