"""CLIP's image tower, opened up for visual prompts as IVLP, MaPLe and PromptSRC use them (appended after the
positional embedding; deep prompts replace them at each layer)."""
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
        """Images -> unnormalised features [B, embed_dim]; prompts: [shallow, deep_1, ...] (empty: the frozen model)."""
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
