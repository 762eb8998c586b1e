"""dpt, this project's method: the soft and the hand-crafted prompt as two views of the text, their mutual
information maximised by a learnable estimator, plus class-wise mixup of image features.

    L = CE(real + class-wise mixup) - lambda_mi * MI(t_soft ; t_hand)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..augment import classwise_mixup
from ..errors import BadInput
from ..mi import make_estimator
from ..prompts import CLIP_IMAGENET_TEMPLATES, hand_crafted_features
from .base import ensembled, training_batches
from .coop import CoOp
from .registry import register


@register
class DualViewPrompt(CoOp):
    """Soft and hand-crafted prompts as two views of the text; maximise their MI (plus class-wise mixup).

    Ensemble: MI pairs (t_soft[c], t_hand[c]) for every class c, and, for each mixed image, the lambda-mixed
    soft and hand features of its two classes. The critic maximises the same bound with its own Adam
    optimiser: under the prompt's SGD (lr 0.002, warm-up 1e-5) it barely moves and the bound stays near zero.
    Exploration (`mi_visual`): a second learnable estimator between the class-wise mixed image features and
    their mixed soft (or fused) text features, so the visual augmentation enters an MI term, not only the CE.
    Adaptive anchor (`anchor`): each class's pair is weighted by how right the hand-crafted view is on that
    class's training shots (kept with the prompt, for the classes it was trained on). Inference (`ensemble`,
    `ensemble_from`): the hand-crafted view mixed back in.
    """
    name = "dpt"
    config_fields = (*CoOp.config_fields, "mi_weight", "mi_estimator", "critic", "critic_hidden", "mixup",
                     "mixup_alpha", "mixup_in_mi", "critic_lr", "ensemble", "mi_visual", "mi_visual_weight", "anchor",
                     "ensemble_from")

    def __init__(self, backbone, classnames, template, cfg):
        super().__init__(backbone, classnames, template, cfg)
        d = backbone.embed_dim
        self.mi = make_estimator(cfg.mi_estimator, d, d, critic=cfg.critic, hidden=cfg.critic_hidden).to(backbone.device)
        if cfg.mi_visual != "none":
            self.mi_visual = make_estimator("infonce", d, d, critic="dot").to(backbone.device)
        # what the run derives from its training shots (never from val or test): saved with the prompt
        self.register_buffer("anchor_weights", torch.ones(len(self.classnames), device=backbone.device))
        self.register_buffer("ensemble_weight", torch.tensor(float(cfg.ensemble), device=backbone.device))

    @classmethod
    def check_run(cls, cfg, train) -> None:
        if cfg.mixup == "within" and cfg.mixup_in_mi and cfg.mi_weight > 0:
            raise BadInput("mixup='within' with mixup_in_mi=True: within-class mixup gives one-hot targets, so its MI "
                           "pairs would be copies of the class pairs, and InfoNCE would score each positive as a "
                           "negative of its copy; set mixup_in_mi=False with within-class mixup")

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
        return list(self.mi.parameters()) + (list(self.mi_visual.parameters()) if hasattr(self, "mi_visual") else [])

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

    def loss(self, image_features, labels):
        c = self.cfg
        soft = self.soft_features()
        ce = F.cross_entropy(self.logits(image_features, soft), labels)
        terms = {"ce": ce.detach()}
        loss = ce
        pairs_soft, pairs_hand, weights = [soft], [self.hand], [self.anchor_weights]
        mix = None
        if c.mixup != "none":
            mix = classwise_mixup(image_features, labels, len(self.classnames), alpha=c.mixup_alpha, mode=c.mixup)
            ce_mix = torch.sum(-mix.targets * F.log_softmax(self.logits(mix.features, soft), -1), -1).mean()
            loss = loss + ce_mix
            terms["ce_mix"] = ce_mix.detach()
            if c.mixup_in_mi:
                pairs_soft.append(F.normalize(mix.targets @ soft, dim=-1))
                pairs_hand.append(F.normalize(mix.targets @ self.hand, dim=-1))
                weights.append(mix.targets @ self.anchor_weights)
        if c.mi_weight > 0:
            # One pass trains both: the prompt (SGD) and the critic (Adam, invariant to the weight's scale).
            x, y, w = torch.cat(pairs_soft), torch.cat(pairs_hand), torch.cat(weights)
            if c.anchor == "fixed":
                objective, mi_est = self.mi(x, y)
            else:  # each pair's share of the bound weighted by the hand-crafted view's right-ness on its class
                objective, mi_est = self.mi(x, y, weights=w)
            loss = loss - c.mi_weight * objective
            terms["mi"] = mi_est
        if c.mi_visual != "none" and c.mi_visual_weight > 0:
            v, targets = (mix.features, mix.targets) if mix is not None else (
                image_features, F.one_hot(labels, len(self.classnames)).to(soft.dtype))
            view = soft if c.mi_visual == "soft" else ensembled(soft, self.hand, self.fused_weight())
            objective_v, mi_v = self.mi_visual(v.to(soft.dtype), F.normalize(targets @ view, dim=-1))
            loss = loss - c.mi_visual_weight * objective_v
            terms["mi_visual"] = mi_v
        return loss, terms


@register
class DualViewEnsemble(DualViewPrompt):
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
