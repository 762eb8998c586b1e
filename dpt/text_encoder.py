"""CLIP's text tower, opened up so prompt learners can feed token *embeddings* instead of token ids.

    tokens -> token_embedding -> (+ positional) -> transformer (causal) -> ln_final -> x[EOT] @ projection

Deep prompts (IVLP, MaPLe, PromptSRC): `deep[i]` replaces the context tokens (positions 1..n) at the
input of layer i+1, as in muzairkhattak/multimodal-prompt-learning; layer 0 sees the shallow context.

Because attention is causal and the feature is read at the EOT token, positions after the longest
EOT in a batch never influence any feature: `forward` cuts the sequence there (exact, and much
cheaper than pushing the full 77 tokens of ViT-B-16's context through the transformer).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def run_blocks(transformer: nn.Module, x: torch.Tensor, deep: Sequence[torch.Tensor], replace, attn_mask=None):
    """open_clip's Transformer.forward ([B, L, W] in and out), with `replace(x, deep[i - 1])` applied
    before layer i for i = 1..len(deep): the deep prompts of one tower."""
    if len(deep) >= len(transformer.resblocks):
        raise ValueError(f"{len(deep)} deep prompt layers for a {len(transformer.resblocks)}-layer transformer")
    batch_first = getattr(transformer, "batch_first", True)
    for i, block in enumerate(transformer.resblocks):
        if 1 <= i <= len(deep):
            x = replace(x, deep[i - 1].to(x.dtype))
        x = block(x if batch_first else x.transpose(0, 1), attn_mask=attn_mask)
        x = x if batch_first else x.transpose(0, 1)
    return x


class TextEncoder(nn.Module):
    def __init__(self, clip_model: nn.Module):
        super().__init__()
        m = clip_model
        if not hasattr(m, "token_embedding"):
            raise TypeError("TextEncoder needs an open_clip CLIP with a built-in text tower (not CustomTextCLIP)")
        if getattr(m, "text_pool_type", "argmax") != "argmax":
            raise TypeError(f"unsupported text pooling {m.text_pool_type!r}; dpt needs EOT (argmax) pooling")
        self.token_embedding = m.token_embedding
        self.positional_embedding = m.positional_embedding
        self.transformer = m.transformer
        self.ln_final = m.ln_final
        self.text_projection = m.text_projection
        self.register_buffer("attn_mask", m.attn_mask, persistent=False)

    @property
    def context_length(self) -> int:
        return self.positional_embedding.shape[0]

    @property
    def width(self) -> int:
        return self.token_embedding.weight.shape[1]

    @property
    def output_dim(self) -> int:
        p = self.text_projection
        return p.out_features if isinstance(p, nn.Linear) else p.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.token_embedding.weight.dtype

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids [B, L] -> token embeddings [B, L, width]."""
        return self.token_embedding(tokens)

    def forward(self, embeddings: torch.Tensor, eot_index: torch.Tensor, truncate: bool = True,
                deep: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """Token embeddings [B, L, width] and EOT positions [B] -> text features [B, embed_dim].

        truncate: cut the sequence after the longest EOT (exact under causal attention).
        deep: per-layer context tokens [n_ctx, width] that replace positions 1..n_ctx before layers 1, 2, ...
        """
        n = int(eot_index.max()) + 1 if truncate else embeddings.shape[1]
        x = embeddings[:, :n] + self.positional_embedding[:n].to(embeddings.dtype)
        mask = self.attn_mask[:n, :n] if self.attn_mask is not None else None
        if deep:
            def replace(x, ctx):
                return torch.cat([x[:, :1], ctx.expand(x.shape[0], -1, -1), x[:, 1 + ctx.shape[0]:]], dim=1)
            x = run_blocks(self.transformer, x, deep, replace, attn_mask=mask)
        else:
            x = self.transformer(x, attn_mask=mask)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot_index]
        p = self.text_projection
        return p(x) if isinstance(p, nn.Linear) else x @ p

    def encode_tokens(self, tokens: torch.Tensor, truncate: bool = True) -> torch.Tensor:
        """Same as `clip.encode_text(tokens)` (EOT = the largest token id in each row)."""
        return self.forward(self.embed(tokens), tokens.argmax(dim=-1), truncate=truncate)
