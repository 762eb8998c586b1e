"""CoOp and the methods that keep its prompt and change its loss or test-time features: zeroshot, coop,
coop_ensemble, kgcoop and prograd."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..prompts import SoftPromptLearner
from .base import PromptMethod, ensembled
from .registry import register


@register
class ZeroShotCLIP(PromptMethod):
    name = "zeroshot"
    learns = False


@register
class CoOp(PromptMethod):
    name = "coop"
    config_fields = ("n_ctx", "ctx_init", "class_specific", "class_position")

    def __init__(self, backbone, classnames, template, cfg):
        learner = self.make_prompt_learner(backbone, classnames, cfg)
        super().__init__(backbone, classnames, template, cfg)
        self.prompt_learner = learner

    def make_prompt_learner(self, backbone, classnames, cfg) -> SoftPromptLearner:
        return SoftPromptLearner(backbone, classnames, n_ctx=cfg.n_ctx, init=cfg.ctx_init,
                                 class_specific=cfg.class_specific, position=cfg.class_position)

    def set_classnames(self, classnames, template=None):
        super().set_classnames(classnames, template)
        if hasattr(self, "prompt_learner"):
            self.prompt_learner.set_classnames(classnames)

    def soft_features(self) -> torch.Tensor:
        return F.normalize(self.prompt_learner(), dim=-1)

    def text_features(self) -> torch.Tensor:
        return self.soft_features()

    def loss(self, image_features, labels):
        ce = F.cross_entropy(self.logits(image_features), labels)
        return ce, {"ce": ce.detach()}


@register
class CoOpEnsemble(CoOp):
    """CoOp with hand-crafted features mixed in at test time: the cheapest way back to zero-shot, a baseline."""
    name = "coop_ensemble"
    config_fields = (*CoOp.config_fields, "ensemble")

    def text_features(self):
        return ensembled(self.soft_features(), self.hand, self.cfg.ensemble)

    def loss(self, image_features, labels):
        ce = F.cross_entropy(self.logits(image_features, self.soft_features()), labels)
        return ce, {"ce": ce.detach()}


@register
class KgCoOp(CoOp):
    name = "kgcoop"
    config_fields = (*CoOp.config_fields, "kg_weight")

    def loss(self, image_features, labels):
        soft = self.soft_features()
        ce = F.cross_entropy(self.logits(image_features, soft), labels)
        kg = 1 - (soft * self.hand).sum(-1).mean()
        return ce + self.cfg.kg_weight * kg, {"ce": ce.detach(), "kg": kg.detach()}


@register
class ProGrad(CoOp):
    """CoOp whose update never opposes zero-shot CLIP (Zhu et al.): a conflicting CE gradient is projected out."""
    name = "prograd"
    config_fields = (*CoOp.config_fields, "prograd_lambda", "prograd_t")

    def loss(self, image_features, labels):
        logits = self.logits(image_features)
        ce = F.cross_entropy(logits, labels)
        t = self.cfg.prograd_t
        teacher = F.softmax(self.logit_scale * image_features @ self.hand.T / t, dim=-1)
        kl = -(teacher * F.log_softmax(logits / t, dim=-1)).sum(1).mean() * t * t
        return ce, {"ce": ce, "kl": kl}  # kl keeps its graph: backward() needs its gradient

    def backward(self, loss, terms, scaling=None):
        """Under fp16 the CE gradient is unscaled before the projection; the KL's scale cancels in its direction."""
        params = [p for p in self.parameters() if p.requires_grad]
        scale = scaling.scale if scaling is not None else (lambda t: t)
        g_kl = torch.autograd.grad(scale(terms["kl"]), params, retain_graph=True)
        scale(loss).backward()
        if scaling is not None and scaling.scaler.is_enabled():
            for p, b in zip(params, g_kl):
                p.grad += b - b  # exactly zero, or NaN where the KL gradient is not finite: the scaler then skips
            scaling.unscale_()
        for p, b in zip(params, g_kl):  # tensor ops only (no device sync); the reference's `if along < 0`
            a = p.grad
            b_hat = b / torch.linalg.norm(b).clamp_min(1e-12)
            along = torch.dot(a.flatten(), b_hat.flatten())
            p.grad = torch.where(along < 0, a - self.cfg.prograd_lambda * along * b_hat, a)
