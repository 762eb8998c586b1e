"""Load a CLIP backbone by name (open_clip or the offline miniclip) as a `Backbone`: the frozen model, its
preprocessing, tokenizer and a `TextEncoder` that takes token embeddings, which prompt learners need."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import open_clip
import torch
from open_clip import CLIP
from torch import nn

from .errors import BadInput
from .miniclip import (ASSETS, MINICLIP_CFG, MINICLIP_CHECKPOINT, MINICLIP_NAME, MINICLIPS, OPENAI_MEAN,  # noqa: F401
                       OPENAI_STD, STEMS, MiniclipSpec, build_clip, build_miniclip,
                       load_miniclip, miniclip_info, miniclip_transforms)
from .pretrained import dassl_train_transform, load_open_clip
from .text_encoder import TextEncoder
from .weights import BackboneUnavailable, load_state_dict, weights_fingerprint  # noqa: F401



@dataclass
class Backbone:
    name: str
    model: CLIP
    preprocess: Callable  # PIL image -> tensor, evaluation transform
    train_preprocess: Callable  # PIL image -> tensor, random crop + flip (for augmented views)
    tokenizer: Callable
    text_encoder: TextEncoder
    weights: str = ""  # where the weights came from: an open_clip tag, a file path, or "random-init"
    _fingerprint: tuple | None = None  # (tensor versions, sha256 of the weights): identity.weights_fingerprint

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def frozen_modules(self) -> tuple[nn.Module, ...]:
        """What moves when a module that uses this backbone moves (dpt.frozen): the model and the text tower."""
        return self.model, self.text_encoder

    @property
    def context_length(self) -> int:
        return self.text_encoder.context_length

    @property
    def embed_dim(self) -> int:
        return self.text_encoder.output_dim

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp().clamp(max=100))

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(images.to(self.device), normalize=True).float()

    @torch.no_grad()
    def encode_prompts(self, prompts: list[str], normalize: bool = True) -> torch.Tensor:
        """Text features (normalised unless told) for plain-text prompts (checks they fit the context)."""
        tokens = tokenize(self.tokenizer, prompts, self.context_length)
        eot = tokens.argmax(dim=-1)
        feats = self.text_encoder.encode_tokens(tokens.to(self.device), eot_range=(int(eot.min()), int(eot.max())))
        feats = feats.float()
        return nn.functional.normalize(feats, dim=-1) if normalize else feats


def tokenize(tokenizer, texts: list[str], context_length: int) -> torch.Tensor:
    """Tokenize, refusing (never truncating) texts that do not fit the context with SOT/EOT."""
    if len(texts) == 0:
        raise BadInput("no texts to tokenize (empty class list?)")
    too_long = []
    for t in texts:
        n = len(tokenizer.encode(t)) if hasattr(tokenizer, "encode") else None
        if n is not None and n + 2 > context_length:
            too_long.append((t, n + 2))
    if too_long:
        listing = "; ".join(f"{t!r} needs {n} tokens" for t, n in too_long[:5])
        raise BadInput(
            f"{len(too_long)} prompt(s) do not fit the text context of {context_length} tokens: {listing}. "
            "Shorten the class name(s) or the template; dpt never truncates silently.")
    return tokenizer(texts, context_length=context_length)


def _freeze(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def check_device(device) -> None:
    """Refuse, before any work, a device this machine does not have."""
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError):
        raise BadInput(f"device {device!r} is not a device; use device='cpu' (or 'cuda', 'cuda:N' on a GPU)") from None
    if d.type == "cuda" and (not torch.cuda.is_available() or (d.index or 0) >= torch.cuda.device_count()):
        have = f"{torch.cuda.device_count()} CUDA device(s)" if torch.cuda.is_available() else "no CUDA GPU"
        raise BadInput(f"device {device!r} was asked for, but this machine has {have}; use device='cpu' (or, in Colab, "
                       "Runtime > Change runtime type > GPU)")


def load_backbone(name: str = MINICLIP_NAME, pretrained: str | None = "default", device: str | torch.device = "cpu",
                  checkpoint: str | Path | None = None) -> Backbone:
    """A frozen CLIP by name ('miniclip' or open_clip's); pretrained: a tag, a checkpoint file, None (random)
    or 'default' ('openai', or miniclip's shipped weights)."""
    check_device(device)
    if name in MINICLIPS:
        if pretrained not in (None, "default"):
            checkpoint = checkpoint or pretrained  # a checkpoint path, e.g. from `python -m dpt pretrain --out`
        model = load_miniclip(checkpoint, pretrained=pretrained is not None, version=name)
        train_pre, val_pre = miniclip_transforms(MINICLIPS[name].cfg["vision_cfg"]["image_size"])
        weights = "random-init" if pretrained is None else str(checkpoint or MINICLIPS[name].checkpoint)
    elif name in open_clip.list_models():
        tag = "openai" if pretrained == "default" else pretrained
        model, _, val_pre = load_open_clip(name, tag, device)
        cfg = model.visual.preprocess_cfg if hasattr(model.visual, "preprocess_cfg") else {}
        size = model.visual.image_size[0] if isinstance(model.visual.image_size, tuple) else model.visual.image_size
        train_pre = dassl_train_transform(size, cfg.get("mean", OPENAI_MEAN), cfg.get("std", OPENAI_STD))
        weights = "random-init" if tag is None else tag
    else:
        later = "" if "miniclip-v2" in MINICLIPS else " (miniclip-v2 loads once the lab is imported: import dpt.experiments)"
        raise BadInput(f"unknown backbone {name!r}; valid: {', '.join([*MINICLIPS, *open_clip.list_models()])}{later}")
    model = _freeze(model.to(device))
    tokenizer = open_clip.get_tokenizer("ViT-B-16" if name in MINICLIPS else name)
    return Backbone(name=name, model=model, preprocess=val_pre, train_preprocess=train_pre,
                    tokenizer=tokenizer, text_encoder=TextEncoder(model), weights=weights)


