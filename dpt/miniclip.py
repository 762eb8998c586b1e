"""The offline miniature CLIP: open_clip's own `CLIP` class at toy scale, its versions (configs), the stems that
replace a ViT's patch embedding, and the checkpoints shipped in `dpt/assets/`."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from open_clip import CLIP
from open_clip.model import CLIPTextCfg, CLIPVisionCfg
from torch import nn
from torchvision import transforms as T

from .errors import cause
from .weights import BackboneUnavailable, load_state_dict

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
ASSETS = Path(__file__).parent / "assets"
MINICLIP_NAME = "miniclip"


@dataclass(frozen=True)
class MiniclipSpec:
    """One version of the miniature CLIP (open_clip's CLIP at toy scale) and its shipped checkpoint."""
    name: str
    cfg: dict
    checkpoint: Path
    conv_stem: bool | str = False  # False, or the stem replacing the ViT's patch embedding (STEMS)
    world: str = "shapes"  # what it was pretrained on: "shapes" (world.py) or "objects" (objects.py)


MINICLIPS = {"miniclip": MiniclipSpec("miniclip", dict(  # the lab adds "miniclip-v2" (dpt/experiments/miniclip_v2.py)
    embed_dim=128,
    vision_cfg=dict(image_size=48, patch_size=8, width=96, layers=4, head_width=32, mlp_ratio=2.0),
    text_cfg=dict(context_length=32, vocab_size=49408, width=96, heads=3, layers=4, mlp_ratio=2.0)),
    ASSETS / "miniclip.pt")}
MINICLIP_CFG = MINICLIPS[MINICLIP_NAME].cfg  # v1, the default miniature's backbone
MINICLIP_CHECKPOINT = MINICLIPS[MINICLIP_NAME].checkpoint


def miniclip_transforms(image_size: int):
    norm = T.Normalize(OPENAI_MEAN, OPENAI_STD)
    val = T.Compose([T.Resize(image_size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(image_size),
                     T.ToTensor(), norm])
    train = T.Compose([T.RandomResizedCrop(image_size, scale=(0.7, 1.0), interpolation=T.InterpolationMode.BICUBIC),
                       T.RandomHorizontalFlip(), T.ToTensor(), norm])
    return train, val


STEMS: dict[str, type] = {}  # stems replacing a ViT's patch embedding, added by the lab (miniclip-v2, the pilots)


def build_clip(cfg: dict, conv_stem: bool | str = False) -> CLIP:
    """open_clip's CLIP from a config dict, randomly initialised (conv_stem: a name in STEMS, or True for "conv")."""
    model = CLIP(embed_dim=cfg["embed_dim"], vision_cfg=CLIPVisionCfg(**cfg["vision_cfg"]),
                 text_cfg=CLIPTextCfg(**cfg["text_cfg"]))
    if conv_stem:
        stem = STEMS["conv" if conv_stem is True else conv_stem]
        model.visual.conv1 = stem(cfg["vision_cfg"]["patch_size"], cfg["vision_cfg"]["width"])
    return model


def build_miniclip(version: str = MINICLIP_NAME) -> CLIP:
    """A randomly initialised miniclip of `version` (a name in MINICLIPS)."""
    spec = MINICLIPS[version]
    return build_clip(spec.cfg, spec.conv_stem)


def load_miniclip(checkpoint: str | Path | None = None, pretrained: bool = True, version: str = MINICLIP_NAME) -> CLIP:
    model = build_miniclip(version)
    if pretrained:
        path = Path(checkpoint).expanduser() if checkpoint else MINICLIPS[version].checkpoint
        if not path.is_file():
            raise BackboneUnavailable(
                f"miniclip checkpoint not found at {path}. It ships with the package; restore it with "
                "`git checkout dpt/assets/` or regenerate it with `python -m dpt pretrain`.")
        state = load_state_dict(path)
        try:
            model.load_state_dict({k: v.float() for k, v in state.items()})
        except RuntimeError as e:
            raise BackboneUnavailable(f"checkpoint {path} does not match the miniclip architecture "
                                      f"({cause(e)}); pass a checkpoint written by "
                                      f"`python -m dpt pretrain --arch {version}`") from e
    return model


def miniclip_info(version: str = MINICLIP_NAME) -> dict:
    """The JSON record written beside the shipped checkpoint by `python -m dpt pretrain`."""
    return json.loads(MINICLIPS[version].checkpoint.with_suffix(".json").read_text())


