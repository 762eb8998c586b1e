"""Methods that prompt both towers (IVLP, MaPLe, PromptSRC, after muzairkhattak's references), so the image
encoder runs inside training on preprocessed images instead of cached features."""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check
from ..prompts import CLIP_IMAGENET_TEMPLATES, SoftPromptLearner, hand_crafted_features
from ..vision_encoder import VisionPromptEncoder
from .coop import CoOp
from .registry import register


def prompt_depth(cfg, n_layers: int) -> int:
    """Layers that get prompts: cfg.prompt_depth, or 3/4 of the layers (the reference's 9 of 12)."""
    depth = cfg.prompt_depth if cfg.prompt_depth is not None else max(1, round(0.75 * n_layers))
    check(depth <= n_layers, f"prompt_depth {depth} exceeds the backbone's {n_layers} layers")
    return depth


def _tokens(n: int, width: int, device) -> nn.Parameter:
    return nn.Parameter(torch.randn(n, width, device=device) * 0.02)  # the reference's normal(std=0.02)


@register
class IVLP(CoOp):
    """Independent vision-language prompts: text and vision tokens in the first J layers of each tower."""
    name = "ivlp"
    encodes_images = True
    eval_batch_size = 256  # images, not features, go through each forward
    config_fields = ("n_ctx", "ctx_init", "n_ctx_vision", "prompt_depth")
    train_defaults = {"lr": 0.0025, "epochs": 20, "batch_size": 4}  # configs/trainers/IVLP/vit_b16_c2_ep20_batch4_4+4ctx

    def __init__(self, backbone, classnames, template, cfg):
        super().__init__(backbone, classnames, template, cfg)
        self.use_frozen("vision", VisionPromptEncoder(backbone.model))
        layers = min(len(backbone.model.transformer.resblocks), self.vision.n_layers)
        self.depth = prompt_depth(cfg, layers)
        n, width = self.prompt_learner.n_ctx, backbone.text_encoder.width
        self.text_deep = nn.ParameterList([_tokens(n, width, backbone.device) for _ in range(self.depth - 1)])
        self.build_vision_prompts(backbone, cfg)

    def make_prompt_learner(self, backbone, classnames, cfg) -> SoftPromptLearner:
        n = self.n_text_tokens(cfg)
        return SoftPromptLearner(backbone, classnames, n_ctx=n, init=cfg.ctx_init, learn_first=n if cfg.ctx_init else None)

    def n_text_tokens(self, cfg) -> int:
        return cfg.n_ctx

    def build_vision_prompts(self, backbone, cfg) -> None:
        self.vision_tokens = nn.ParameterList([_tokens(cfg.n_ctx_vision, self.vision.width, backbone.device)
                                               for _ in range(self.depth)])

    def vision_prompts(self) -> list[torch.Tensor]:
        """[shallow, deep_1, ..., deep_{J-1}], each [n, vision width]."""
        return list(self.vision_tokens)

    def soft_features(self) -> torch.Tensor:
        return F.normalize(self.prompt_learner(deep=list(self.text_deep)), dim=-1)

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.vision(images, self.vision_prompts()), dim=-1)

    def logits(self, images, text=None):
        text = self.text_features() if text is None else text
        return self.logit_scale * self.image_features(images) @ text.T


@register
class MaPLe(IVLP):
    """Multi-modal prompts: the vision tokens of layer j are a linear map of the text tokens of layer j."""
    name = "maple"
    config_fields = ("maple_n_ctx", "ctx_init", "prompt_depth")
    train_defaults = {"lr": 0.0035, "epochs": 5, "batch_size": 4}  # configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx

    def n_text_tokens(self, cfg) -> int:
        return cfg.maple_n_ctx

    def build_vision_prompts(self, backbone, cfg) -> None:
        w_text, w_vision = backbone.text_encoder.width, self.vision.width
        self.proj = nn.Linear(w_text, w_vision).to(backbone.device)
        single = nn.Linear(w_text, w_vision).to(backbone.device)  # the reference clones one layer J-1 times
        self.deep_proj = nn.ModuleList([copy.deepcopy(single) for _ in range(self.depth - 1)])

    def vision_prompts(self):
        ctx = self.prompt_learner.ctx[0]
        return [self.proj(ctx), *(p(t) for p, t in zip(self.deep_proj, self.text_deep))]


def gpa_weights(epochs: int, mean: float, std: float) -> list[float]:
    """PromptSRC's Gaussian prompt aggregation: weight of epoch e = 1..epochs, normalised to sum 1."""
    g = [math.exp(-0.5 * ((e - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi)) for e in range(1, epochs + 1)]
    return [x / sum(g) for x in g]


@register
class PromptSRC(IVLP):
    """IVLP regulated by the frozen model (features and logits) and averaged over epochs."""
    name = "promptsrc"
    config_fields = (*IVLP.config_fields, "src_text_weight", "src_image_weight", "gpa_mean", "gpa_std")
    train_defaults = {"lr": 0.0025, "epochs": 20, "batch_size": 4}  # configs/trainers/PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx

    def __init__(self, backbone, classnames, template, cfg):
        super().__init__(backbone, classnames, template, cfg)
        self._frozen_text = (None, None)  # ((class names, device), features): computed when first trained on
        for name, p in self.named_parameters():  # the running Gaussian-weighted average (saved in checkpoints)
            self.register_buffer(self._gpa_name(name), torch.zeros_like(p))

    @classmethod
    def check_run(cls, cfg, train) -> None:
        check(1 <= cfg.gpa_mean <= train.epochs,
              f"gpa_mean={cfg.gpa_mean:g} lies outside the run's epochs 1..{train.epochs}: PromptSRC averages the prompts "
              f"of epochs around gpa_mean; pick one within them (the reference: 15 of 20)")

    @staticmethod
    def _gpa_name(param: str) -> str:
        return "gpa_" + param.replace(".", "_")

    def frozen_text_features(self) -> torch.Tensor:
        """Normalised mean of the frozen model's text features over CLIP's 60 templates (the reference's targets)."""
        if self._frozen_text[0] != (self.classnames, self.hand.device):
            self._frozen_text = ((self.classnames, self.hand.device), hand_crafted_features(
                self.backbone, self.classnames, CLIP_IMAGENET_TEMPLATES, normalize_each=False))
        return self._frozen_text[1]

    def loss(self, images, labels):
        c = self.cfg
        text, image = self.text_features(), self.image_features(images)
        logits = self.logit_scale * image @ text.T
        ce = F.cross_entropy(logits, labels)
        frozen_text = self.frozen_text_features()
        with torch.no_grad():
            frozen_image = self.backbone.encode_images(images)
            frozen_logits = self.logit_scale * frozen_image @ frozen_text.T
        l_text = F.l1_loss(text, frozen_text) * c.src_text_weight
        l_image = F.l1_loss(image, frozen_image) * c.src_image_weight
        l_logits = F.kl_div(F.log_softmax(logits, 1), F.log_softmax(frozen_logits, 1), reduction="sum",
                            log_target=True) / logits.numel()
        terms = {"ce": ce.detach(), "l1_text": l_text.detach(), "l1_image": l_image.detach(), "kl": l_logits.detach()}
        return ce + l_text + l_image + l_logits, terms

    @torch.no_grad()
    def end_epoch(self, epoch, epochs):
        w = gpa_weights(epochs, self.cfg.gpa_mean, self.cfg.gpa_std)[epoch]
        for name, p in self.named_parameters():
            gpa = self.get_buffer(self._gpa_name(name))
            gpa.add_(w * p)
            if epoch == epochs - 1:  # after the last epoch, the prompts become their aggregate
                p.copy_(gpa)

