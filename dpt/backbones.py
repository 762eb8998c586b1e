"""Load a CLIP backbone by name: open_clip models (e.g. ViT-B-16 / openai) or the offline `miniclip`.

Every backbone comes back as a `Backbone`: the open_clip model (frozen, eval mode), its image
preprocessing, the open_clip tokenizer and a `TextEncoder` that accepts token *embeddings*, which
is what prompt learners need.
"""
from __future__ import annotations

import hashlib
import json
import math
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
MINICLIP_NAME = "miniclip"


@dataclass(frozen=True)
class MiniclipSpec:
    """One version of the miniature CLIP: open_clip's own `CLIP` class at toy scale, the standard 49,408-token
    BPE vocabulary, and the checkpoint shipped for it. `conv_stem`: the ViT's patch embedding is a small
    stack of strided 3x3 convolutions (Xiao et al. 2021, "Early convolutions help transformers see better")
    instead of one linear patch projection."""
    name: str
    cfg: dict
    checkpoint: Path
    conv_stem: bool | str = False  # False, or the stem replacing the ViT's patch embedding (STEMS)
    world: str = "shapes"  # what it was pretrained on: "shapes" (world.py) or "objects" (objects.py)


MINICLIPS = {s.name: s for s in (
    MiniclipSpec("miniclip", dict(
        embed_dim=128,
        vision_cfg=dict(image_size=48, patch_size=8, width=96, layers=4, head_width=32, mlp_ratio=2.0),
        text_cfg=dict(context_length=32, vocab_size=49408, width=96, heads=3, layers=4, mlp_ratio=2.0)),
        ASSETS / "miniclip.pt"),
    # v2: the tower that learned shape fastest of those piloted with visual prompts still possible (a hybrid ViT,
    # benchmarks/miniclip_pilot.py, results/miniclip_pilot.json), on ShapeWorld v2's object kinds
    MiniclipSpec("miniclip-v2", dict(
        embed_dim=128,
        vision_cfg=dict(image_size=48, patch_size=8, width=96, layers=4, head_width=32, mlp_ratio=2.0),
        text_cfg=dict(context_length=32, vocab_size=49408, width=128, heads=4, layers=4, mlp_ratio=2.0)),
        ASSETS / "miniclip_v2.pt", conv_stem="res", world="objects"),
)}
MINICLIP_CFG = MINICLIPS[MINICLIP_NAME].cfg  # v1, the default miniature's backbone
MINICLIP_CHECKPOINT = MINICLIPS[MINICLIP_NAME].checkpoint
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


def available_backbones() -> list[str]:
    return [*MINICLIPS, *open_clip.list_models()]


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


class ConvStem(nn.Module):
    """Strided 3x3 convolutions (BatchNorm + ReLU between) that turn an image into one token per patch, for
    a ViT's `conv1`: log2(patch) convolutions of stride 2, widths doubling up to the transformer's width."""

    def __init__(self, patch: int, width: int):
        super().__init__()
        n = int(math.log2(patch))
        if 2 ** n != patch:
            raise ValueError(f"a conv stem needs a power-of-two patch size, got {patch}")
        chans = [3] + [width // 2 ** (n - 1 - i) for i in range(n)]
        layers = []
        for i in range(n):
            layers.append(nn.Conv2d(chans[i], chans[i + 1], 3, 2, 1, bias=i == n - 1))
            if i < n - 1:
                layers += [nn.BatchNorm2d(chans[i + 1]), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)

    @property
    def weight(self) -> torch.Tensor:  # dtype probe used like a Conv2d's (open_clip casts inputs to it)
        return self.net[0].weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ResStem(nn.Module):
    """A hybrid ViT's patch embedding (Dosovitskiy et al.'s ViT-R): open_clip's ModifiedResNet stem (three 3x3
    convolutions, an average pool) and two of its Bottleneck stages, stride 8 in all, then a 1x1 convolution to the
    transformer's width. The transformer, its [CLS] token and the visual prompts of IVLP / MaPLe / PromptSRC are
    untouched: only how pixels become tokens changes, with a convolution's bias for local shape."""

    def __init__(self, patch: int, width: int, channels: int = 16):
        super().__init__()
        from open_clip.modified_resnet import Bottleneck
        if patch != 8:
            raise ValueError(f"the residual stem makes 8-pixel tokens, got patch {patch}")
        c = channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, c // 2, 3, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(inplace=True),
            nn.Conv2d(c // 2, c // 2, 3, 1, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(inplace=True),
            nn.Conv2d(c // 2, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AvgPool2d(2))
        self.layer1 = Bottleneck(c, c, 1)
        self.layer2 = Bottleneck(c * 4, c * 2, 2)
        self.proj = nn.Conv2d(c * 8, width, 1)

    @property
    def weight(self) -> torch.Tensor:  # dtype probe used like a Conv2d's (open_clip casts inputs to it)
        return self.proj.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.layer2(self.layer1(self.stem(x))))


STEMS = {"conv": ConvStem, "res": ResStem}


def build_clip(cfg: dict, conv_stem: bool | str = False) -> CLIP:
    """open_clip's CLIP from a config dict (embed_dim, vision_cfg, text_cfg), randomly initialised; a tuple of
    vision layers gives open_clip's ModifiedResNet, else a ViT, its patch embedding replaced by a stem if asked
    ("conv": strided convolutions; "res": residual stages, a hybrid ViT; True means "conv")."""
    model = CLIP(embed_dim=cfg["embed_dim"], vision_cfg=CLIPVisionCfg(**cfg["vision_cfg"]),
                 text_cfg=CLIPTextCfg(**cfg["text_cfg"]))
    if conv_stem:
        stem = STEMS["conv" if conv_stem is True else conv_stem]
        model.visual.conv1 = stem(cfg["vision_cfg"]["patch_size"], cfg["vision_cfg"]["width"])
    return model


def build_miniclip(version: str = MINICLIP_NAME) -> CLIP:
    """A randomly initialised miniclip of `version` ("miniclip" or "miniclip-v2")."""
    spec = MINICLIPS[version]
    return build_clip(spec.cfg, spec.conv_stem)


def _load_state_dict(path: Path) -> dict:
    """A checkpoint's state dict, read once (memory-mapped where torch can: a 600 MB file is not copied)."""
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):
                raise
            obj = torch.load(path, map_location="cpu", weights_only=True)  # an old (non-zip) checkpoint
    except Exception as e:  # truncated zip, wrong format, ...
        raise BackboneUnavailable(
            f"checkpoint file {path} is corrupt or not a PyTorch checkpoint ({type(e).__name__}: {e}). "
            "Re-download it, or for the miniature restore it with `git checkout dpt/assets/` "
            "or regenerate it with `python -m dpt.pretrain`.") from e
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise BackboneUnavailable(f"checkpoint file {path} holds no state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_miniclip(checkpoint: str | Path | None = None, pretrained: bool = True, version: str = MINICLIP_NAME) -> CLIP:
    model = build_miniclip(version)
    if pretrained:
        path = Path(checkpoint).expanduser() if checkpoint else MINICLIPS[version].checkpoint
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
                                      f"`python -m dpt.pretrain --arch {version}`") from e
    return model


def miniclip_info(version: str = MINICLIP_NAME) -> dict:
    """The JSON record written beside the shipped checkpoint by `python -m dpt.pretrain`."""
    return json.loads(MINICLIPS[version].checkpoint.with_suffix(".json").read_text())


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


def dassl_train_transform(image_size: int, mean, std):
    """The references' training augmentation (Dassl's random_resized_crop, random_flip, normalize: scale 0.08-1,
    bicubic; KaiyangZhou/Dassl.pytorch dassl/data/transforms/transforms.py), for open_clip backbones."""
    return T.Compose([T.RandomResizedCrop(image_size, scale=(0.08, 1.0), interpolation=T.InterpolationMode.BICUBIC),
                      T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)])


@contextmanager
def _quiet_logging():
    """open_clip logs a failed download as `ERROR:root:` before raising; the error we raise says it better."""
    import logging
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        root.setLevel(level)


def _load_open_clip(name: str, pretrained: str | None, device) -> tuple[CLIP, Callable, Callable]:
    looks_like_file = bool(pretrained) and (os.path.sep in pretrained or pretrained.startswith("~") or
                                            pretrained.endswith((".pt", ".bin", ".safetensors", ".pth")))
    if looks_like_file:
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise BackboneUnavailable(f"checkpoint file {path} does not exist; pass the path of an open_clip "
                                      f"{name} checkpoint (--pretrained PATH)")
        state = None if path.suffix == ".safetensors" else _load_state_dict(path)  # read once, here
        with _quiet_logging():  # "no pretrained weights loaded": they are loaded next
            model, _, val_pre = open_clip.create_model_and_transforms(name, pretrained=None, device="cpu")
        try:
            if state is None:
                open_clip.load_checkpoint(model, str(path))
            else:  # open_clip's own conversions (old formats, position-embedding resizing) on the dict read above
                from unittest import mock
                with mock.patch.object(open_clip.factory, "load_state_dict", lambda *a, **k: state):
                    open_clip.factory.load_checkpoint(model, str(path))
        except Exception as e:
            shapes = {k: tuple(v.shape) for k, v in (state or {}).items() if k in ("positional_embedding",
                                                                                     "visual.conv1.weight")}
            hint = (" It looks like a miniclip checkpoint: pass --backbone miniclip (or miniclip-v2)."
                    if shapes.get("positional_embedding", (0,))[0] == MINICLIP_CFG["text_cfg"]["context_length"]
                    else " Is it a checkpoint of another model?")
            raise BackboneUnavailable(f"checkpoint {path} does not fit open_clip's {name} ({type(e).__name__}: "
                                      f"{str(e).splitlines()[0][:160]}).{hint}") from e
        return model.to(device), None, val_pre
    offline = pretrained is not None and not _hub_reachable()
    try:
        with _hub_offline() if offline else nullcontext(), _quiet_logging():
            model, train_pre, val_pre = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device)
    except BackboneUnavailable:
        raise
    except Exception as e:
        raise BackboneUnavailable(
            f"could not load weights {pretrained!r} for {name} ({type(e).__name__}: {str(e).splitlines()[0][:160]}). "
            "What to do: go online once so open_clip downloads and caches them; or download the checkpoint "
            f"elsewhere and pass its file path: --pretrained PATH (in Python: load_backbone({name!r}, pretrained=PATH)); "
            "or run on the offline miniature (miniclip): --profile miniature (DPT_PROFILE=miniature).") from e
    return model, train_pre, val_pre


def check_device(device) -> None:
    """Refuse, before any work, a device this machine does not have."""
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError):
        raise BadInput(f"device {device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:N'") from None
    if d.type == "cuda" and (not torch.cuda.is_available() or (d.index or 0) >= torch.cuda.device_count()):
        have = f"{torch.cuda.device_count()} CUDA device(s)" if torch.cuda.is_available() else "no CUDA GPU"
        raise BadInput(f"device {device!r} was asked for, but this machine has {have}; use device='cpu' (or, in Colab, "
                       "Runtime > Change runtime type > GPU)")


def load_backbone(name: str = MINICLIP_NAME, pretrained: str | None = "default", device: str | torch.device = "cpu",
                  checkpoint: str | Path | None = None) -> Backbone:
    """Load a frozen CLIP by name.

    name: 'miniclip' or an open_clip model name ('ViT-B-16', ...).
    pretrained: for open_clip models an open_clip tag ('openai') or a checkpoint file path; None for
      random initialisation. 'default' means 'openai' for open_clip models and the shipped weights for
      miniclip.
    """
    check_device(device)
    if name in MINICLIPS:
        if pretrained not in (None, "default"):
            checkpoint = checkpoint or pretrained  # a checkpoint path, e.g. from `python -m dpt.pretrain --out`
        model = load_miniclip(checkpoint, pretrained=pretrained is not None, version=name)
        train_pre, val_pre = miniclip_transforms(MINICLIPS[name].cfg["vision_cfg"]["image_size"])
        weights = "random-init" if pretrained is None else str(checkpoint or MINICLIPS[name].checkpoint)
    elif name in open_clip.list_models():
        tag = "openai" if pretrained == "default" else pretrained
        model, _, val_pre = _load_open_clip(name, tag, device)
        cfg = model.visual.preprocess_cfg if hasattr(model.visual, "preprocess_cfg") else {}
        size = model.visual.image_size[0] if isinstance(model.visual.image_size, tuple) else model.visual.image_size
        train_pre = dassl_train_transform(size, cfg.get("mean", OPENAI_MEAN), cfg.get("std", OPENAI_STD))
        weights = "random-init" if tag is None else tag
    else:
        raise BadInput(f"unknown backbone {name!r}; valid names: {', '.join(MINICLIPS)}, "
                         f"{', '.join(open_clip.list_models())}")
    model = _freeze(model.to(device))
    tokenizer = open_clip.get_tokenizer("ViT-B-16" if name in MINICLIPS else name)
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
