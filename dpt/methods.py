"""Prompt-tuning methods. They share the trainer and differ only in their prompt module and loss.

zeroshot  logits = s * v . t_hand                       (no training)
coop      logits = s * v . t_soft,  L = CE
kgcoop    L = CE + w (1 - cos(t_soft, t_hand))          (w = 8)
prograd   L = CE, its gradient projected so it never opposes the KL to zero-shot CLIP (lambda = 1, T = 1)
cocoop    t_soft(v): context + meta-net(v), L = CE     (one prompt set per image)
ivlp, maple, promptsrc   deep prompts in both towers (dpt/multimodal.py): the image encoder is in the loop
dpt       L = CE(real + class-wise mixup) - lambda_mi * MI(t_soft ; t_hand)   (this project's method)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .augment import classwise_mixup
from .backbones import Backbone
from .config import check, from_dict
from .mi import CRITICS, OBJECTIVES, make_estimator
from .prompts import CLIP_IMAGENET_TEMPLATES, SoftPromptLearner, hand_crafted_features


@dataclass
class MethodConfig:
    """Every knob of every method; each method reads the ones it needs. Defaults are documented in README."""
    n_ctx: int = 4
    ctx_init: str | None = "a photo of a"
    class_specific: bool = False
    class_position: str = "end"
    kg_weight: float = 8.0  # KgCoOp
    prograd_lambda: float = 1.0  # ProGrad: how much of the conflicting gradient component is removed
    prograd_t: float = 1.0  # ProGrad: temperature of the KL to zero-shot CLIP
    meta_hidden_ratio: int = 16  # CoCoOp meta-net bottleneck
    # dual-view prompt tuning (dpt)
    mi_weight: float = 30.0
    mi_estimator: str = "infonce"
    critic: str = "dot"  # "dot": learned temperature only; "separable"/"concat" MLP critics can absorb drift
    critic_hidden: int = 128
    mixup: str = "across"  # "across" classes, "within" a class, or "none"
    mixup_alpha: float = 1.0
    mixup_in_mi: bool = True  # mixed samples also enter the MI term as extra pairs
    critic_lr: float = 1e-3  # the MI critic's own Adam (constant lr), separate from the prompt's SGD
    ensemble: float = 0.0  # inference: weight of the hand-crafted logits (0 = soft view only)
    # vision-language prompts (IVLP, MaPLe, PromptSRC; muzairkhattak's reference configs)
    prompt_depth: int | None = None  # layers with prompts in each tower; None: 3/4 of them (9 of ViT-B/16's 12)
    n_ctx_vision: int = 4  # IVLP / PromptSRC vision prompt tokens (their text prompt has n_ctx)
    maple_n_ctx: int = 2  # MaPLe: prompt tokens in both towers (the first 2 words of ctx_init)
    src_text_weight: float = 25.0  # PromptSRC: L1 to the frozen template-ensemble text features
    src_image_weight: float = 10.0  # PromptSRC: L1 to the frozen image features
    gpa_mean: float = 15.0  # PromptSRC: Gaussian prompt aggregation over epochs (1-based), mean and std
    gpa_std: float = 1.0

    def __post_init__(self):
        check(self.n_ctx >= 1, f"n_ctx must be at least 1, got {self.n_ctx}")
        check(self.class_position in ("end", "middle", "front"),
              f"class_position must be end, middle or front, got {self.class_position!r}")
        check(self.mi_estimator in OBJECTIVES, f"unknown mi_estimator {self.mi_estimator!r}; valid: {', '.join(OBJECTIVES)}")
        check(self.critic in CRITICS, f"unknown critic {self.critic!r}; valid: {', '.join(CRITICS)}")
        check(self.mixup in ("across", "within", "none"), f"mixup must be across, within or none, got {self.mixup!r}")
        check(min(self.kg_weight, self.mi_weight, self.critic_lr) >= 0 and self.mixup_alpha > 0,
              "kg_weight, mi_weight and critic_lr must be >= 0 and mixup_alpha > 0")
        check(0 <= self.ensemble <= 1, f"ensemble must be in [0, 1], got {self.ensemble}")
        check(self.prograd_lambda >= 0 and self.prograd_t > 0, "prograd_lambda must be >= 0 and prograd_t > 0")
        check(self.meta_hidden_ratio >= 1 and self.critic_hidden >= 1, "hidden sizes must be positive")
        check(self.prompt_depth is None or self.prompt_depth >= 1, f"prompt_depth must be >= 1, got {self.prompt_depth}")
        check(min(self.n_ctx_vision, self.maple_n_ctx) >= 1, "n_ctx_vision and maple_n_ctx must be at least 1")
        check(min(self.src_text_weight, self.src_image_weight) >= 0 and self.gpa_std > 0,
              "src_text_weight and src_image_weight must be >= 0 and gpa_std > 0")

    @classmethod
    def from_dict(cls, d: dict) -> "MethodConfig":
        return from_dict(cls, d, "method")

    def fields_for(self, method: str) -> dict:
        """The options `method` reads (what its results depend on), for the run identity."""
        return {k: getattr(self, k) for k in METHODS[method].config_fields}


class PromptMethod(nn.Module):
    """A method = text features for the current classes (+ a training loss)."""
    name = "base"
    config_fields: tuple[str, ...] = ()  # the MethodConfig fields this method reads
    train_defaults: dict = {}  # TrainConfig overrides this method needs (on top of the profile's)
    learns = True  # False for methods with nothing to train (they need no training features)
    encodes_images = False  # True: inputs are preprocessed images, not cached features (visual prompts)
    text_per_image = False  # True: class text features depend on the image (CoCoOp), so none are shared
    eval_batch_size: int | None = None  # samples per evaluation forward (None: the caller's default)

    def __init__(self, backbone: Backbone, classnames: Sequence[str], template: str, cfg: MethodConfig):
        super().__init__()
        object.__setattr__(self, "backbone", backbone)  # frozen; not part of the state dict
        self.cfg = cfg
        self.template = template
        self.logit_scale = backbone.logit_scale
        self.set_classnames(classnames)

    def set_classnames(self, classnames: Sequence[str], template: str | None = None) -> None:
        """Point the method at other classes (novel ones, a target dataset's), written with `template`."""
        self.classnames = list(classnames)
        self.template = template or self.template
        self.register_buffer("hand", hand_crafted_features(self.backbone, classnames, self.template), persistent=False)

    def text_features(self) -> torch.Tensor:
        return self.hand

    def logits(self, image_features: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        text = self.text_features() if text is None else text
        return self.logit_scale * image_features @ text.T

    def loss(self, image_features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError(f"{self.name} has nothing to train")

    def backward(self, loss: torch.Tensor, terms: dict, scale: float = 1.0) -> None:
        """Turn the loss into gradients (the trainer then steps). `scale`: the AMP loss scale."""
        (loss if scale == 1.0 else loss * scale).backward()

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """Called by the trainer after each epoch (0-based), before its checkpoint (PromptSRC's aggregation)."""

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def critic_parameters(self) -> list[nn.Parameter]:
        """Parameters trained by their own optimiser (an MI critic), not by the prompt's SGD."""
        return []


class ZeroShotCLIP(PromptMethod):
    name = "zeroshot"
    learns = False


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


def ensembled(soft: torch.Tensor, hand: torch.Tensor, weight: float) -> torch.Tensor:
    """Class features (1 - w) soft + w hand, renormalised: the hand-crafted view mixed back in at test time."""
    return soft if weight == 0 else F.normalize((1 - weight) * soft + weight * hand, dim=-1)


class CoOpEnsemble(CoOp):
    """CoOp trained as usual, whose class features at test time mix in the hand-crafted ones (`ensemble`): the
    cheapest way back towards zero-shot, a baseline every regulariser of the prompt has to beat."""
    name = "coop_ensemble"
    config_fields = (*CoOp.config_fields, "ensemble")

    def text_features(self):
        return ensembled(self.soft_features(), self.hand, self.cfg.ensemble)

    def loss(self, image_features, labels):
        ce = F.cross_entropy(self.logits(image_features, self.soft_features()), labels)
        return ce, {"ce": ce.detach()}


class KgCoOp(CoOp):
    name = "kgcoop"
    config_fields = (*CoOp.config_fields, "kg_weight")

    def loss(self, image_features, labels):
        soft = self.soft_features()
        ce = F.cross_entropy(self.logits(image_features, soft), labels)
        kg = 1 - (soft * self.hand).sum(-1).mean()
        return ce + self.cfg.kg_weight * kg, {"ce": ce.detach(), "kg": kg.detach()}


class ProGrad(CoOp):
    """CoOp whose update never opposes zero-shot CLIP's prediction (Zhu et al., ProGrad): where the CE
    gradient points against the gradient of the KL to the zero-shot (hand-crafted) prediction, its
    conflicting component is removed, per parameter, as in BeierZhu/Prompt-align's trainer."""
    name = "prograd"
    config_fields = (*CoOp.config_fields, "prograd_lambda", "prograd_t")

    def loss(self, image_features, labels):
        logits = self.logits(image_features)
        ce = F.cross_entropy(logits, labels)
        t = self.cfg.prograd_t
        teacher = F.softmax(self.logit_scale * image_features @ self.hand.T / t, dim=-1)
        kl = -(teacher * F.log_softmax(logits / t, dim=-1)).sum(1).mean() * t * t
        return ce, {"ce": ce, "kl": kl}  # kl keeps its graph: backward() needs its gradient

    def backward(self, loss, terms, scale=1.0):
        params = [p for p in self.parameters() if p.requires_grad]
        g_kl = torch.autograd.grad(terms["kl"] * scale, params, retain_graph=True)
        g_ce = torch.autograd.grad(loss * scale, params)
        for p, a, b in zip(params, g_ce, g_kl):
            b_hat = b / torch.linalg.norm(b).clamp_min(1e-12)
            along = torch.dot(a.flatten(), b_hat.flatten())
            p.grad = a - self.cfg.prograd_lambda * along * b_hat if along < 0 else a


class CoCoOp(CoOp):
    """Conditional CoOp: a meta-net turns each image feature into a shift of the context vectors."""
    name = "cocoop"
    config_fields = (*CoOp.config_fields, "meta_hidden_ratio")
    train_defaults = {"batch_size": 8}  # one prompt set per image: small batches, as in CoCoOp
    text_per_image = True
    eval_batch_size = 64
    max_prompts = 4096  # prompts per text-encoder forward (bounds memory; results do not depend on it)

    def __init__(self, backbone, classnames, template, cfg):
        super().__init__(backbone, classnames, template, cfg)
        d, w = backbone.embed_dim, backbone.text_encoder.width
        h = max(1, d // cfg.meta_hidden_ratio)
        self.meta_net = nn.Sequential(nn.Linear(d, h), nn.ReLU(inplace=True), nn.Linear(h, w)).to(backbone.device)

    def conditional_text_features(self, image_features: torch.Tensor) -> torch.Tensor:
        """[B, C, D] normalised text features, one prompt set per image. All B x C prompts go through the
        text encoder together, in chunks of at most `max_prompts` (the reference loops over the images)."""
        pl = self.prompt_learner
        shift = self.meta_net(image_features.to(pl.ctx.dtype))  # [B, width]
        n_classes = pl.prefix.shape[0]
        per_chunk = max(1, self.max_prompts // n_classes)
        out = []
        for s in range(0, shift.shape[0], per_chunk):
            rows = shift[s:s + per_chunk]
            emb = torch.cat([pl.prompt_embeddings(pl.ctx + r.view(1, 1, -1)) for r in rows])  # [b*C, L, width]
            feats = pl.text_encoder(emb, pl.eot_index.repeat(len(rows)))
            out.append(F.normalize(feats, dim=-1).view(len(rows), n_classes, -1))
        return torch.cat(out)

    def logits(self, image_features, text=None):
        if text is not None:
            return super().logits(image_features, text)
        text = self.conditional_text_features(image_features)
        return self.logit_scale * torch.einsum("bd,bcd->bc", image_features, text)

    def loss(self, image_features, labels):
        ce = F.cross_entropy(self.logits(image_features), labels)
        return ce, {"ce": ce.detach()}


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


class DualViewEnsemble(DualViewPrompt):
    """dpt whose hand-crafted view is a template ensemble (the ablation: does a richer second view help?). On
    miniclip, the dataset's template in every phrasing of its style that the pretraining captions use; on CLIP,
    CLIP's 60 ImageNet templates (PromptSRC's). Only the MI term's view changes: the soft view still classifies."""
    name = "dpt_hand_ensemble"

    def set_classnames(self, classnames, template=None):
        super().set_classnames(classnames, template)
        from .data.world import phrasing_ensemble
        templates = (phrasing_ensemble(self.template) if self.backbone.name == "miniclip" else None) or CLIP_IMAGENET_TEMPLATES
        self.register_buffer("hand", hand_crafted_features(self.backbone, self.classnames, templates), persistent=False)


METHODS = {m.name: m for m in (ZeroShotCLIP, CoOp, CoOpEnsemble, CoCoOp, KgCoOp, ProGrad, DualViewPrompt,
                               DualViewEnsemble)}
from . import multimodal  # noqa: E402,F401  (builds on CoOp above and adds ivlp, maple, promptsrc to METHODS)


def check_method(name: str) -> None:
    check(name in METHODS, f"unknown method {name!r}; valid: {', '.join(METHODS)}")


def build_method(name: str, backbone: Backbone, classnames: Sequence[str], template: str,
                 cfg: MethodConfig | None = None) -> PromptMethod:
    check_method(name)
    return METHODS[name](backbone, classnames, template, cfg or MethodConfig())
