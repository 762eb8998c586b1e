"""dpt, this project's method, reconstructed from the abstract (arXiv 2410.03189): soft and hand-crafted
prompts as two views of the text, their MI maximised, plus class-wise mixup of image features."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..augment import classwise_mixup
from ..errors import BadInput
from ..mi import make_estimator
from .base import ensembled
from .coop import CoOp
from .registry import register


@register
class DualViewPrompt(CoOp):
    """Soft and hand-crafted prompts as two views of the text; maximise their MI (plus class-wise mixup). The
    critic has its own Adam: under the prompt's SGD the bound would stay near zero."""
    name = "dpt"
    config_fields = (*CoOp.config_fields, "mi_weight", "mi_estimator", "critic", "critic_hidden", "mixup",
                     "mixup_alpha", "mixup_in_mi", "critic_lr", "ensemble", "mi_visual", "mi_visual_weight", "anchor",
                     "ensemble_from")  # the last four: the rejected variants' knobs, off by default

    def __init__(self, backbone, classnames, template, cfg):
        if type(self) is DualViewPrompt and (cfg.mi_visual, cfg.anchor, cfg.ensemble_from) != ("none", "fixed", "fixed"):
            raise BadInput("this config switches on a variant of dpt (mi_visual, anchor or ensemble_from) that "
                           "DualViewPrompt does not run: import dpt.experiments (the lab, where the variants live), "
                           "then build it with build_method('dpt', ...)")
        super().__init__(backbone, classnames, template, cfg)
        d = backbone.embed_dim
        self.mi = make_estimator(cfg.mi_estimator, d, d, critic=cfg.critic, hidden=cfg.critic_hidden).to(backbone.device)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for key in ("anchor_weights", "ensemble_weight"):  # kept by dpt's files before its variants moved out:
            if key not in self._buffers:  # at their defaults wherever this class runs, so nothing is lost
                state_dict.pop(prefix + key, None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @classmethod
    def check_run(cls, cfg, train) -> None:
        if cfg.mixup == "within" and cfg.mixup_in_mi and cfg.mi_weight > 0:
            raise BadInput("mixup='within' with mixup_in_mi=True: within-class mixup gives one-hot targets, so its MI "
                           "pairs would be copies of the class pairs, and InfoNCE would score each positive as a "
                           "negative of its copy; set mixup_in_mi=False with within-class mixup")

    def critic_parameters(self):
        return list(self.mi.parameters())

    def text_features(self):
        return ensembled(self.soft_features(), self.hand, self.cfg.ensemble)

    def loss(self, image_features, labels):
        c = self.cfg
        soft = self.soft_features()
        ce = F.cross_entropy(self.logits(image_features, soft), labels)
        loss, terms = ce, {"ce": ce.detach()}
        pairs_soft, pairs_hand = [soft], [self.hand]
        mix = None
        if c.mixup != "none":
            mix = classwise_mixup(image_features, labels, len(self.classnames), alpha=c.mixup_alpha, mode=c.mixup)
            ce_mix = torch.sum(-mix.targets * F.log_softmax(self.logits(mix.features, soft), -1), -1).mean()
            loss = loss + ce_mix
            terms["ce_mix"] = ce_mix.detach()
            if c.mixup_in_mi:
                pairs_soft.append(F.normalize(mix.targets @ soft, dim=-1))
                pairs_hand.append(F.normalize(mix.targets @ self.hand, dim=-1))
        if c.mi_weight > 0:  # one pass trains both: the prompt (SGD) and the critic (Adam)
            objective, terms["mi"] = self.mi_objective(torch.cat(pairs_soft), torch.cat(pairs_hand), mix)
            loss = loss - c.mi_weight * objective
        return self.extra_terms(loss, terms, image_features, labels, soft, mix)

    def mi_objective(self, soft_pairs, hand_pairs, mix):
        """(the bound to maximise, its value as an MI estimate) over the pairs of the two views."""
        return self.mi(soft_pairs, hand_pairs)

    def extra_terms(self, loss, terms, image_features, labels, soft, mix):
        """Where a variant adds a term (dpt/experiments/variants.py); dpt itself adds none."""
        return loss, terms
