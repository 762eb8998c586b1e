"""CLIP's text tower, opened up so prompt learners can feed token embeddings instead of token ids. Causal
attention read at EOT makes two exact savings: the sequence is cut after the longest EOT, and a prefix
shared by every prompt is computed once (`shared_prefix_blocks`)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def run_blocks(transformer: nn.Module, x: torch.Tensor, deep: Sequence[torch.Tensor], replace, attn_mask=None):
    """open_clip's Transformer.forward, with the deep prompts `deep[i - 1]` put in before layer i."""
    if len(deep) >= len(transformer.resblocks):
        raise ValueError(f"{len(deep)} deep prompt layers for a {len(transformer.resblocks)}-layer transformer")
    batch_first = getattr(transformer, "batch_first", True)
    for i, block in enumerate(transformer.resblocks):
        if 1 <= i <= len(deep):
            x = replace(x, deep[i - 1].to(x.dtype))
        x = block(x if batch_first else x.transpose(0, 1), attn_mask=attn_mask)
        x = x if batch_first else x.transpose(0, 1)
    return x


def _heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    b, l, w = x.shape
    return x.view(b, l, n_head, w // n_head).transpose(1, 2)  # [B, H, L, Dh]


def _qkv(block, x: torch.Tensor):
    attn = block.attn
    q, k, v = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    return _heads(q, attn.num_heads), _heads(k, attn.num_heads), _heads(v, attn.num_heads)


def _finish(block, x: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
    """The rest of an open_clip ResidualAttentionBlock after attention: out-projection, residuals, MLP."""
    b, h, l, dh = heads.shape
    out = block.attn.out_proj(heads.transpose(1, 2).reshape(b, l, h * dh))
    x = x + block.ls_1(out)
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def shared_prefix_blocks(transformer: nn.Module, prefix: torch.Tensor, suffix: torch.Tensor,
                         deep: Sequence[torch.Tensor] = ()) -> torch.Tensor:
    """The causal transformer on prompts sharing their first positions: prefix [G, P, W] runs once per group,
    suffix [G * C, S, W] attends to it. Returns the suffix's hidden states."""
    blocks = transformer.resblocks
    if len(deep) >= len(blocks):
        raise ValueError(f"{len(deep)} deep prompt layers for a {len(blocks)}-layer transformer")
    g, p = prefix.shape[:2]
    per_group, s = suffix.shape[0] // g, suffix.shape[1]
    mask = torch.ones(s, p + s, dtype=torch.bool, device=suffix.device).tril(p)  # causal over prefix + suffix
    for i, block in enumerate(blocks):
        if 1 <= i <= len(deep):
            ctx = deep[i - 1].to(prefix.dtype)
            prefix = torch.cat([prefix[:, :1], ctx.expand(g, -1, -1), prefix[:, 1 + ctx.shape[0]:]], dim=1)
        q_p, k_p, v_p = _qkv(block, prefix)
        q_s, k_s, v_s = _qkv(block, suffix)
        k = torch.cat([k_p.repeat_interleave(per_group, 0), k_s], dim=2)
        v = torch.cat([v_p.repeat_interleave(per_group, 0), v_s], dim=2)
        suffix = _finish(block, suffix, F.scaled_dot_product_attention(q_s, k, v, attn_mask=mask))
        prefix = _finish(block, prefix, F.scaled_dot_product_attention(q_p, k_p, v_p, is_causal=True))
    return suffix


class TextEncoder(nn.Module):
    share_prefix = True  # use shared_prefix when a caller offers it (False: the plain path, for checks and benchmarks)

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
                deep: Sequence[torch.Tensor] = (), shared_prefix: int = 0, groups: int = 1,
                eot_range: tuple[int, int] | None = None) -> torch.Tensor:
        """Token embeddings [B, L, width] and EOT positions [B] -> text features [B, embed_dim]; deep: per-layer
        context tokens; shared_prefix: positions shared within each of `groups` blocks (the caller's promise)."""
        lo, hi = eot_range if eot_range is not None else (int(eot_index.min()), int(eot_index.max()))
        if embeddings.shape[0] % groups:
            raise ValueError(f"a batch of {embeddings.shape[0]} prompts cannot be cut into {groups} equal groups")
        n = hi + 1 if truncate else embeddings.shape[1]
        x = embeddings[:, :n] + self.positional_embedding[:n].to(embeddings.dtype)
        plain_blocks = isinstance(self.transformer.resblocks[0].attn, nn.MultiheadAttention) and \
            getattr(self.transformer, "batch_first", True)
        causal = self.attn_mask is not None  # the shared prefix (like the truncation) needs causal attention
        if shared_prefix and self.share_prefix and plain_blocks and causal and lo >= shared_prefix:
            per_group = x.shape[0] // groups
            suffix = shared_prefix_blocks(self.transformer, x[::per_group, :shared_prefix], x[:, shared_prefix:], deep)
            x = self.ln_final(suffix[torch.arange(x.shape[0], device=x.device), eot_index - shared_prefix])
            p = self.text_projection
            return p(x) if isinstance(p, nn.Linear) else x @ p
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

    def encode_tokens(self, tokens: torch.Tensor, truncate: bool = True,
                      eot_range: tuple[int, int] | None = None) -> torch.Tensor:
        """Same as `clip.encode_text(tokens)` (EOT = the largest token id in each row)."""
        return self.forward(self.embed(tokens), tokens.argmax(dim=-1), truncate=truncate, eot_range=eot_range)
