"""CLIP's image tower, opened up for visual prompts (VPT-style, as IVLP, MaPLe and PromptSRC use them).

    image -> patches + [CLS] + positional -> [append n prompt tokens] -> ln_pre -> transformer -> ln_post([CLS]) @ proj

The prompt tokens are appended after the positional embedding (they have none) and go through
ln_pre, as in muzairkhattak/multimodal-prompt-learning. Deep prompts replace the last n tokens at
the input of layers 1, 2, ...: what the previous layer made of them is dropped.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .frozen import UsesFrozen
from .text_encoder import run_blocks


class VisionPromptEncoder(UsesFrozen):
    def __init__(self, clip_model: nn.Module):
        super().__init__()
        v = clip_model.visual
        supported = (getattr(v, "attn_pool", None) is None and getattr(v, "pool_type", "tok") == "tok"
                     and hasattr(v, "class_embedding") and not getattr(v, "final_ln_after_pool", False))
        if not supported:
            raise TypeError(f"visual prompts need a plain ViT with [CLS] pooling; {type(v).__name__} is not one")
        self.use_frozen("visual", v)  # frozen and shared: moved by .to(), not part of this module's state

    @property
    def width(self) -> int:
        return self.visual.class_embedding.shape[0]

    @property
    def n_layers(self) -> int:
        return len(self.visual.transformer.resblocks)

    def forward(self, images: torch.Tensor, prompts: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """Images [B, 3, H, W] -> unnormalised image features [B, embed_dim].
        prompts: [shallow, deep_1, ...], each [n, width]; empty gives the frozen model's features."""
        v = self.visual
        x = v.conv1(images.to(v.conv1.weight.dtype))
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # [B, grid**2, width]
        cls = v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)
        if prompts:
            x = torch.cat([x, prompts[0].to(x.dtype).expand(x.shape[0], -1, -1)], dim=1)
        x = v.ln_pre(x)

        def replace(x, ctx):
            return torch.cat([x[:, :x.shape[1] - ctx.shape[0]], ctx.expand(x.shape[0], -1, -1)], dim=1)
        x = run_blocks(v.transformer, x, list(prompts[1:]), replace)
        x = v.ln_post(x[:, 0])
        return x @ v.proj if v.proj is not None else x
