"""CoCoOp (Zhou et al., KaiyangZhou/CoOp trainers/cocoop.py): context + meta-net(image feature), one prompt
set per image, L = CE. All B x C prompts of a batch go through the text encoder together."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .coop import CoOp
from .registry import register


@register
class CoCoOp(CoOp):
    """Conditional CoOp: a meta-net turns each image feature into a shift of the context vectors."""
    name = "cocoop"
    config_fields = (*CoOp.config_fields, "meta_hidden_ratio")
    train_defaults = {"batch_size": 8}  # one prompt set per image: small batches, as in CoCoOp
    text_per_image = True
    eval_batch_size = 64
    max_prompts = 4096  # prompts per text-encoder forward (bounds memory; results do not depend on it)

    def __init__(self, backbone, classnames, template, cfg):
        super().__init__(backbone, classnames, template, cfg)
        d, w = backbone.embed_dim, backbone.text_encoder.width
        h = max(1, d // cfg.meta_hidden_ratio)
        self.meta_net = nn.Sequential(nn.Linear(d, h), nn.ReLU(inplace=True), nn.Linear(h, w)).to(backbone.device)

    def conditional_text_features(self, image_features: torch.Tensor) -> torch.Tensor:
        """[B, C, D] text features, one prompt set per image, all through the encoder together in chunks."""
        pl = self.prompt_learner
        shift = self.meta_net(image_features.to(pl.ctx.dtype))  # [B, width]
        n_classes = pl.prefix.shape[0]
        per_chunk = max(1, self.max_prompts // n_classes)
        out = []
        for s in range(0, shift.shape[0], per_chunk):
            rows = shift[s:s + per_chunk]
            emb = torch.cat([pl.prompt_embeddings(pl.ctx + r.view(1, 1, -1)) for r in rows])  # [b*C, L, width]
            feats = pl.text_encoder(emb, pl.eot_index.repeat(len(rows)), shared_prefix=pl.shared_prefix,
                                    groups=len(rows), eot_range=pl.eot_range)  # one context per image: its prefix serves all its classes
            out.append(F.normalize(feats, dim=-1).view(len(rows), n_classes, -1))
        return torch.cat(out)

    def logits(self, image_features, text=None):
        if text is not None:
            return super().logits(image_features, text)
        text = self.conditional_text_features(image_features)
        return self.logit_scale * torch.einsum("bd,bcd->bc", image_features, text)

    def loss(self, image_features, labels):
        ce = F.cross_entropy(self.logits(image_features), labels)
        return ce, {"ce": ce.detach()}
