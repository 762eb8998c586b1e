"""CLIP's text tower, opened up so prompt learners can feed token *embeddings* instead of token ids.

    tokens -> token_embedding -> (+ positional) -> transformer (causal) -> ln_final -> x[EOT] @ projection

Because attention is causal and the feature is read at the EOT token, positions after the longest
EOT in a batch never influence any feature: `forward` cuts the sequence there (exact, and much
cheaper than pushing the full 77 tokens of ViT-B-16's context through the transformer).
"""
from __future__ import annotations

import torch
from torch import nn


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

    def forward(self, embeddings: torch.Tensor, eot_index: torch.Tensor, truncate: bool = True) -> torch.Tensor:
        """Token embeddings [B, L, width] and EOT positions [B] -> text features [B, embed_dim].

        truncate: cut the sequence after the longest EOT (exact under causal attention).
        """
        n = int(eot_index.max()) + 1 if truncate else embeddings.shape[1]
        x = embeddings[:, :n] + self.positional_embedding[:n].to(embeddings.dtype)
        mask = self.attn_mask[:n, :n] if self.attn_mask is not None else None
        x = self.transformer(x, attn_mask=mask)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot_index]
        p = self.text_projection
        return p(x) if isinstance(p, nn.Linear) else x @ p

    def encode_tokens(self, tokens: torch.Tensor, truncate: bool = True) -> torch.Tensor:
        """Same as `clip.encode_text(tokens)` (EOT = the largest token id in each row)."""
        return self.forward(self.embed(tokens), tokens.argmax(dim=-1), truncate=truncate)
