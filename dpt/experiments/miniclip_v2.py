"""miniclip-v2, the second miniature's backbone (the `miniature-v2` profile): a hybrid ViT pretrained on ShapeWorld
v2's object kinds. It is the tower that learned shape fastest of those piloted with visual prompts still possible
(benchmarks/miniclip_pilot.py, results/miniclip_pilot.json). Importing the lab registers it with the library."""
from __future__ import annotations

import torch
from torch import nn

from ..miniclip import ASSETS, MINICLIPS, STEMS, MiniclipSpec


class ResStem(nn.Module):
    """A hybrid ViT's patch embedding (ViT-R): open_clip's ResNet stem and two stages, then a 1x1 convolution."""

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


STEMS["res"] = ResStem
MINICLIPS["miniclip-v2"] = MiniclipSpec("miniclip-v2", dict(
    embed_dim=128,
    vision_cfg=dict(image_size=48, patch_size=8, width=96, layers=4, head_width=32, mlp_ratio=2.0),
    text_cfg=dict(context_length=32, vocab_size=49408, width=128, heads=4, layers=4, mlp_ratio=2.0)),
    ASSETS / "miniclip_v2.pt", conv_stem="res", world="objects")
