"""The two views of the text: hand-crafted prompts (frozen features) and CoOp's learnable soft prompts."""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES
from torch import nn

from .backbones import Backbone, tokenize
from .errors import BadInput
from .frozen import UsesFrozen

# A small generic ensemble (a subset of CLIP's ImageNet templates) for template-ensemble features.
ENSEMBLE_TEMPLATES = (
    "a photo of a {}.", "a bad photo of a {}.", "a photo of the big {}.", "a photo of the small {}.",
    "a drawing of a {}.", "a sketch of a {}.", "pixel art of a {}.", "itap of a {}.",
)

# PromptSRC's 60 templates (muzairkhattak/PromptSRC trainers/imagenet_templates.py): the first 60 of CLIP's 80 ImageNet
# templates as open_clip lists them, with "a photo of a {}." moved first. Its frozen text targets average over them.
CLIP_IMAGENET_TEMPLATES = tuple(t("{}") for t in (OPENAI_IMAGENET_TEMPLATES[39], *OPENAI_IMAGENET_TEMPLATES[:39],
                                                  *OPENAI_IMAGENET_TEMPLATES[40:60]))


def check_classnames(classnames: Sequence[str]) -> list[str]:
    """The class names as a list; a single string, an empty list, empty or duplicate names are refused."""
    if isinstance(classnames, str):
        raise BadInput(f"class names must be a list of names, got the single string {classnames!r}; "
                       f"pass [{classnames!r}] for one class")
    names = list(classnames)
    if not names:
        raise BadInput("empty class list")
    bad = [n for n in names if not isinstance(n, str) or not n.strip()]
    if bad:
        raise BadInput(f"class names must be non-empty strings, got {bad[0]!r}")
    seen, dups = {}, []
    for n in names:  # as prompts write them: '_' as a space, runs of spaces as one
        key = " ".join(n.replace("_", " ").split())
        if key in seen:
            dups.append(repr(n) if seen[key] == n else f"{seen[key]!r} and {n!r} (both prompt as {key!r})")
        seen.setdefault(key, n)
    if dups:
        raise BadInput(f"class names must be distinct; repeated: {', '.join(dict.fromkeys(dups))}")
    return names


def check_template(template: str) -> str:
    if not isinstance(template, str) or template.count("{}") != 1:
        raise BadInput(f"a template needs exactly one '{{}}' for the class name, got {template!r}")
    return template


def _clean(classnames: Sequence[str]) -> list[str]:
    return [c.replace("_", " ") for c in check_classnames(classnames)]


@torch.no_grad()
def hand_crafted_features(backbone: Backbone, classnames: Sequence[str], templates: str | Sequence[str],
                          normalize_each: bool = True) -> torch.Tensor:
    """Normalised text features [C, D]; several templates are averaged (normalised first, or raw as PromptSRC)."""
    templates = [check_template(t) for t in ([templates] if isinstance(templates, str) else list(templates))]
    names = _clean(classnames)
    feats = torch.stack([backbone.encode_prompts([t.format(c) for c in names], normalize=normalize_each)
                         for t in templates])
    return F.normalize(feats.mean(0), dim=-1)


class SoftPromptLearner(UsesFrozen):
    """CoOp's learnable context. forward() -> unnormalised text features [C, D] for the current classes."""

    def __init__(self, backbone: Backbone, classnames: Sequence[str], n_ctx: int = 4, init: str | None = "a photo of a",
                 class_specific: bool = False, position: str = "end", init_std: float = 0.02,
                 learn_first: int | None = None):
        """learn_first: learn only the first n_ctx words of `init`, keep the rest fixed (MaPLe/IVLP); else, as CoOp,
        every word of `init` is learned."""
        super().__init__()
        if position not in ("end", "middle", "front"):
            raise BadInput(f"class token position must be end, middle or front, not {position!r}")
        self.fixed_words = ""
        if init and learn_first is not None:
            words = init.split()
            if not 1 <= learn_first <= len(words):
                raise BadInput(f"cannot learn the first {learn_first} words of {init!r}")
            init, self.fixed_words = " ".join(words[:learn_first]), " ".join(words[learn_first:])
            if self.fixed_words and position != "end":
                raise BadInput("fixed words after the context need the class name at the end")
        # the frozen, shared encoder is kept out of this module's parameters and state dict
        self.use_frozen("text_encoder", backbone.text_encoder)
        self.tokenizer = backbone.tokenizer
        self.position = position
        self.class_specific = class_specific
        width = self.text_encoder.width
        dtype = self.text_encoder.dtype
        if init:
            init_ids = self.tokenizer.encode(init)
            if learn_first is None and n_ctx != len(init_ids):  # what the run uses is what its identity records
                raise BadInput(f"n_ctx={n_ctx} does not match ctx_init {init!r}, which is {len(init_ids)} tokens (the "
                               f"initial words set the context): pass n_ctx={len(init_ids)}, or ctx_init=null for "
                               f"{n_ctx} random context vectors")
            n_ctx = len(init_ids)
            with torch.no_grad():
                vecs = self.text_encoder.embed(torch.tensor(init_ids, device=backbone.device)).to(dtype)
        n_sets = len(classnames) if class_specific else 1
        if init:  # every class starts from the init phrase
            vecs = vecs.unsqueeze(0).repeat(n_sets, 1, 1).clone()
        else:  # every class draws its own vectors, as CoOp's class-specific contexts do
            vecs = torch.randn(n_sets, n_ctx, width, dtype=dtype, device=backbone.device) * init_std
        self.n_ctx = n_ctx
        self.init_words = init
        self.ctx = nn.Parameter(vecs)  # [1 or C, n_ctx, width]
        self.set_classnames(classnames)

    def set_classnames(self, classnames: Sequence[str]) -> None:
        """Switch the class list (e.g. base -> novel). Class-specific contexts cannot switch."""
        names = _clean(classnames)
        if self.class_specific and hasattr(self, "classnames") and names != self.classnames:
            raise BadInput("class-specific contexts are tied to the classes they were trained on; they cannot be "
                           "moved to other classes (novel ones, another dataset's, new names): use shared contexts "
                           "(class_specific=False) for that")
        self.classnames = names
        placeholder = " ".join(["X"] * self.n_ctx)
        prompts = [" ".join(filter(None, (placeholder, self.fixed_words, n))) + "." for n in names]
        tokens = tokenize(self.tokenizer, prompts, self.text_encoder.context_length)
        eot = tokens.argmax(dim=-1)
        self.eot_range = (int(eot.min()), int(eot.max()))  # read here, on the CPU: no device sync per forward
        tokens = tokens.to(self.ctx.device)
        with torch.no_grad():
            emb = self.text_encoder.embed(tokens).to(self.ctx.dtype)
        name_lens = torch.tensor([len(self.tokenizer.encode(n)) for n in names], device=self.ctx.device)
        self.register_buffer("prefix", emb[:, :1], persistent=False)  # SOT
        self.register_buffer("suffix", emb[:, 1 + self.n_ctx:], persistent=False)  # [fixed words], class, ".", EOT
        self.register_buffer("eot_index", tokens.argmax(dim=-1), persistent=False)
        self.register_buffer("name_lens", name_lens, persistent=False)

    def prompt_embeddings(self, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """[C, L, width] token embeddings of the prompts; `ctx` overrides (e.g. image-conditioned)."""
        ctx = self.ctx if ctx is None else ctx
        C = self.prefix.shape[0]
        ctx = ctx.expand(C, -1, -1) if ctx.shape[0] == 1 else ctx
        if self.position == "end":
            return torch.cat([self.prefix, ctx, self.suffix], dim=1)
        rows = []  # class tokens moved to the middle or front of the context (CoOp's variants)
        half = self.n_ctx // 2
        for i in range(C):
            n = int(self.name_lens[i])
            name, rest = self.suffix[i:i + 1, :n], self.suffix[i:i + 1, n:]
            c = ctx[i:i + 1]
            mid = [c[:, :half], name, c[:, half:]] if self.position == "middle" else [name, c]
            rows.append(torch.cat([self.prefix[i:i + 1], *mid, rest], dim=1))
        return torch.cat(rows)

    @property
    def shared_prefix(self) -> int:
        """Leading positions every class's prompt shares (0 unless the class name comes at the end)."""
        if self.position != "end" or self.class_specific:
            return 0
        return 1 + self.n_ctx + (len(self.tokenizer.encode(self.fixed_words)) if self.fixed_words else 0)

    def forward(self, ctx: torch.Tensor | None = None, deep: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        shared = self.shared_prefix if ctx is None or ctx.shape[0] == 1 else 0
        return self.text_encoder(self.prompt_embeddings(ctx), self.eot_index, deep=deep, shared_prefix=shared,
                                 eot_range=self.eot_range)

    @torch.no_grad()
    def nearest_words(self, k: int = 3, vocabulary: Iterable[str] | None = None) -> list[list[str]]:
        """The k nearest tokens of each context vector; `vocabulary` limits the search to these words' tokens."""
        emb = F.normalize(self.text_encoder.token_embedding.weight.float(), dim=-1)
        ids = torch.arange(emb.shape[0], device=emb.device)
        if vocabulary is not None:
            ids = torch.tensor(sorted({t for w in vocabulary for t in self.tokenizer.encode(w)}), device=emb.device)
            if len(ids) < k:
                raise BadInput(f"nearest_words: the vocabulary has {len(ids)} tokens, fewer than k={k}")
            emb = emb[ids]
        ctx = F.normalize(self.ctx[0].float(), dim=-1)
        top = ids[(ctx @ emb.T).topk(k, dim=-1).indices]
        decode = getattr(self.tokenizer, "decode", None)
        return [[decode([int(t)]).strip() if decode else str(int(t)) for t in row] for row in top]
