"""Load a CLIP backbone by name: open_clip models (e.g. ViT-B-16 / openai) or the offline `miniclip`.

Every backbone comes back as a `Backbone`: the open_clip model (frozen, eval mode), its image
preprocessing, the open_clip tokenizer and a `TextEncoder` that accepts token *embeddings*, which
is what prompt learners need.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

import open_clip
from open_clip import CLIP
from open_clip.model import CLIPTextCfg, CLIPVisionCfg
from torchvision import transforms as T

from .errors import BadInput, DptError
from .text_encoder import TextEncoder

ASSETS = Path(__file__).parent / "assets"
MINICLIP_CHECKPOINT = ASSETS / "miniclip.pt"
MINICLIP_NAME = "miniclip"

# The miniature: open_clip's own CLIP class at toy scale, with the standard 49408-token BPE vocabulary.
MINICLIP_CFG = dict(
    embed_dim=128,
    vision_cfg=dict(image_size=48, patch_size=8, width=96, layers=4, head_width=32, mlp_ratio=2.0),
    text_cfg=dict(context_length=32, vocab_size=49408, width=96, heads=3, layers=4, mlp_ratio=2.0),
)
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class BackboneUnavailable(DptError, RuntimeError):
    """The requested weights cannot be loaded here; the message says what to do."""


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
        feats = self.text_encoder.encode_tokens(tokens.to(self.device)).float()
        return nn.functional.normalize(feats, dim=-1) if normalize else feats


def available_backbones() -> list[str]:
    return [MINICLIP_NAME, *open_clip.list_models()]


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


def miniclip_transforms(image_size: int):
    norm = T.Normalize(OPENAI_MEAN, OPENAI_STD)
    val = T.Compose([T.Resize(image_size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(image_size),
                     T.ToTensor(), norm])
    train = T.Compose([T.RandomResizedCrop(image_size, scale=(0.7, 1.0), interpolation=T.InterpolationMode.BICUBIC),
                       T.RandomHorizontalFlip(), T.ToTensor(), norm])
    return train, val


def build_miniclip() -> CLIP:
    cfg = MINICLIP_CFG
    return CLIP(embed_dim=cfg["embed_dim"], vision_cfg=CLIPVisionCfg(**cfg["vision_cfg"]),
                text_cfg=CLIPTextCfg(**cfg["text_cfg"]))


def _load_state_dict(path: Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, wrong format, ...
        raise BackboneUnavailable(
            f"checkpoint file {path} is corrupt or not a PyTorch checkpoint ({type(e).__name__}: {e}). "
            "Re-download it, or for the miniature restore it with `git checkout dpt/assets/` "
            "or regenerate it with `python -m dpt.pretrain`.") from e
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise BackboneUnavailable(f"checkpoint file {path} holds no state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_miniclip(checkpoint: str | Path | None = None, pretrained: bool = True) -> CLIP:
    model = build_miniclip()
    if pretrained:
        path = Path(checkpoint).expanduser() if checkpoint else MINICLIP_CHECKPOINT
        if not path.is_file():
            raise BackboneUnavailable(
                f"miniclip checkpoint not found at {path}. It ships with the package; restore it with "
                "`git checkout dpt/assets/` or regenerate it with `python -m dpt.pretrain`.")
        state = _load_state_dict(path)
        try:
            model.load_state_dict({k: v.float() for k, v in state.items()})
        except RuntimeError as e:
            raise BackboneUnavailable(f"checkpoint {path} does not match the miniclip architecture "
                                      f"({str(e).splitlines()[0][:200]}); pass a checkpoint written by "
                                      "`python -m dpt.pretrain`") from e
    return model


def miniclip_info() -> dict:
    """The JSON record written beside the shipped checkpoint by `python -m dpt.pretrain`."""
    return json.loads((ASSETS / "miniclip.json").read_text())


def _hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextmanager
def _hub_offline():
    """Make huggingface_hub answer from its local cache only, so a miss fails at once."""
    try:
        from huggingface_hub import constants
    except ImportError:  # no hub client: open_clip cannot download anyway
        yield
        return
    old = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old


def _load_open_clip(name: str, pretrained: str | None, device) -> tuple[CLIP, Callable, Callable]:
    looks_like_file = bool(pretrained) and (os.path.sep in pretrained or pretrained.endswith((".pt", ".bin", ".safetensors")))
    if looks_like_file:
        if not Path(pretrained).is_file():
            raise BackboneUnavailable(f"checkpoint file {pretrained} does not exist")
        if not pretrained.endswith(".safetensors"):
            _load_state_dict(Path(pretrained))  # clear error for a corrupt file
    offline = pretrained is not None and not Path(pretrained).is_file() and not _hub_reachable()
    try:
        with _hub_offline() if offline else nullcontext():
            model, train_pre, val_pre = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device)
    except BackboneUnavailable:
        raise
    except Exception as e:
        if looks_like_file:
            raise BackboneUnavailable(
                f"checkpoint {pretrained} does not fit open_clip's {name} ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:200]}). Is it a checkpoint of another model? A miniclip checkpoint "
                f"goes with --backbone miniclip.") from e
        raise BackboneUnavailable(
            f"could not load weights {pretrained!r} for {name} ({type(e).__name__}: {e}).\n"
            "What to do: (1) go online once so open_clip can download and cache them; or (2) download the "
            "checkpoint elsewhere and pass its file path as `pretrained=`, e.g. load_backbone('ViT-B-16', "
            "pretrained='/path/open_clip_pytorch_model.bin'); or (3) use the offline miniature: "
            "load_backbone('miniclip') / DPT_PROFILE=miniature.") from e
    return model, train_pre, val_pre


def load_backbone(name: str = MINICLIP_NAME, pretrained: str | None = "default", device: str | torch.device = "cpu",
                  checkpoint: str | Path | None = None) -> Backbone:
    """Load a frozen CLIP by name.

    name: 'miniclip' or an open_clip model name ('ViT-B-16', ...).
    pretrained: for open_clip models an open_clip tag ('openai') or a checkpoint file path; None for
      random initialisation. 'default' means 'openai' for open_clip models and the shipped weights for
      miniclip.
    """
    if name == MINICLIP_NAME:
        if pretrained not in (None, "default"):
            checkpoint = checkpoint or pretrained  # a checkpoint path, e.g. from `python -m dpt.pretrain --out`
        model = load_miniclip(checkpoint, pretrained=pretrained is not None)
        train_pre, val_pre = miniclip_transforms(MINICLIP_CFG["vision_cfg"]["image_size"])
        weights = "random-init" if pretrained is None else str(checkpoint or MINICLIP_CHECKPOINT)
    elif name in open_clip.list_models():
        tag = "openai" if pretrained == "default" else pretrained
        model, train_pre, val_pre = _load_open_clip(name, tag, device)
        weights = "random-init" if tag is None else tag
    else:
        raise BadInput(f"unknown backbone {name!r}; valid names: {MINICLIP_NAME}, "
                         f"{', '.join(open_clip.list_models())}")
    model = _freeze(model.to(device))
    tokenizer = open_clip.get_tokenizer("ViT-B-16" if name == MINICLIP_NAME else name)
    return Backbone(name=name, model=model, preprocess=val_pre, train_preprocess=train_pre,
                    tokenizer=tokenizer, text_encoder=TextEncoder(model), weights=weights)


def weights_fingerprint(backbone) -> str:
    """sha256 of every tensor of the backbone's weights (names, shapes, dtypes and bytes). Hashed again only
    when a tensor was replaced or changed in place (PyTorch counts in-place writes in `_version`)."""
    state = backbone.model.state_dict()
    stamp = tuple((t.data_ptr(), t._version) for t in state.values())
    if backbone._fingerprint is None or backbone._fingerprint[0] != stamp:
        h = hashlib.sha256(backbone.name.encode())
        for k, v in state.items():
            t = v.detach().to("cpu").contiguous().reshape(-1)
            h.update(f"{k}|{tuple(t.shape)}|{t.dtype}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        backbone._fingerprint = (stamp, h.hexdigest()[:16])
    return backbone._fingerprint[1]
