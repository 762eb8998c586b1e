"""dpt, this project's method: the soft and the hand-crafted prompt as two views of the text, their mutual
information maximised by a learnable estimator, plus class-wise mixup of image features.

    L = CE(real + class-wise mixup) - lambda_mi * MI(t_soft ; t_hand)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..augment import classwise_mixup
from ..mi import make_estimator
from ..prompts import CLIP_IMAGENET_TEMPLATES, hand_crafted_features
from .base import ensembled
from .coop import CoOp
from .registry import register


@register
class DualViewPrompt(CoOp):
    """Soft and hand-crafted prompts as two views of the text; maximise their MI (plus class-wise mixup).

    MI pairs: (t_soft[c], t_hand[c]) for every class c, and, for each mixed image, the lambda-mixed
    soft and hand features of its two classes. The critic maximises the same bound with its own
    Adam optimiser: under the prompt's SGD (lr 0.002, warm-up 1e-5) it barely moves and the bound
    stays near zero, so the MI term would do nothing.
    """
    name = "dpt"
    config_fields = (*CoOp.config_fields, "mi_weight", "mi_estimator", "critic", "critic_hidden", "mixup",
                     "mixup_alpha", "mixup_in_mi", "critic_lr", "ensemble")

    def __init__(self, backbone, classnames, template, cfg):
        super().__init__(backbone, classnames, template, cfg)
        d = backbone.embed_dim
        self.mi = make_estimator(cfg.mi_estimator, d, d, critic=cfg.critic, hidden=cfg.critic_hidden).to(backbone.device)

    def critic_parameters(self):
        return list(self.mi.parameters())

    def text_features(self):
        return ensembled(self.soft_features(), self.hand, self.cfg.ensemble)

    def loss(self, image_features, labels):
        c = self.cfg
        soft = self.soft_features()
        ce = F.cross_entropy(self.logits(image_features, soft), labels)
        terms = {"ce": ce.detach()}
        loss = ce
        pairs_soft, pairs_hand = [soft], [self.hand]
        if c.mixup != "none":
            mix = classwise_mixup(image_features, labels, len(self.classnames), alpha=c.mixup_alpha, mode=c.mixup)
            ce_mix = torch.sum(-mix.targets * F.log_softmax(self.logits(mix.features, soft), -1), -1).mean()
            loss = loss + ce_mix
            terms["ce_mix"] = ce_mix.detach()
            if c.mixup_in_mi:
                pairs_soft.append(F.normalize(mix.targets @ soft, dim=-1))
                pairs_hand.append(F.normalize(mix.targets @ self.hand, dim=-1))
        if c.mi_weight > 0:
            # One pass trains both: the prompt (SGD) and the critic (Adam, invariant to the weight's scale).
            objective, mi_est = self.mi(torch.cat(pairs_soft), torch.cat(pairs_hand))
            loss = loss - c.mi_weight * objective
            terms["mi"] = mi_est
        return loss, terms


@register
class DualViewEnsemble(DualViewPrompt):
    """dpt whose hand-crafted view is a template ensemble (the ablation: does a richer second view help?). On
    miniclip, the dataset's template in every phrasing of its style that the pretraining captions use; on CLIP,
    CLIP's 60 ImageNet templates (PromptSRC's). Only the MI term's view changes: the soft view still classifies."""
    name = "dpt_hand_ensemble"

    def set_classnames(self, classnames, template=None):
        super().set_classnames(classnames, template)
        from ..data.world import phrasing_ensemble
        templates = (phrasing_ensemble(self.template) if self.backbone.name == "miniclip" else None) or CLIP_IMAGENET_TEMPLATES
        self.register_buffer("hand", hand_crafted_features(self.backbone, self.classnames, templates), persistent=False)
