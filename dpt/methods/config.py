"""Every knob of every prompt method, in one typed config. Each method class lists the fields it reads
(`config_fields`), which is what its run identity records; this module knows no method classes."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check, check_numbers, from_dict
from ..mi import CRITICS, OBJECTIVES


@dataclass
class MethodConfig:
    """Every knob of every method; each method reads the ones it needs. Defaults are documented in docs/method.md."""
    n_ctx: int = 4
    ctx_init: str | None = "a photo of a"
    class_specific: bool = False
    class_position: str = "end"
    kg_weight: float = 8.0  # KgCoOp
    prograd_lambda: float = 1.0  # ProGrad: how much of the conflicting gradient component is removed
    prograd_t: float = 1.0  # ProGrad: temperature of the KL to zero-shot CLIP
    meta_hidden_ratio: int = 16  # CoCoOp meta-net bottleneck
    # dual-view prompt tuning (dpt)
    mi_weight: float = 10.0  # with ensemble 0.3: chosen by dpt's pre-registered search on val (results/miniature-v1/
    #                          dpt_search_plan.json and its _result.json; docs/method.md, "The method and its defaults")
    mi_estimator: str = "infonce"
    critic: str = "dot"  # "dot": learned temperature only; "separable"/"concat" MLP critics can absorb drift
    critic_hidden: int = 128
    mixup: str = "across"  # "across" classes, "within" a class, or "none"
    mixup_alpha: float = 1.0
    mixup_in_mi: bool = True  # mixed samples also enter the MI term as extra pairs
    critic_lr: float = 1e-3  # the MI critic's own Adam (constant lr), separate from the prompt's SGD
    ensemble: float = 0.3  # inference: weight of the hand-crafted logits (0 = soft view only; dpt and its variants,
    #                        coop_ensemble; CoOp itself never reads it)
    # dpt's exploration, adaptive anchor and inference ensemble (each an ablation, rejected by the search)
    mi_visual: str = "none"  # MI between class-wise mixed image features and "soft" (or the "fused") text view
    mi_visual_weight: float = 0.0  # its weight
    anchor: str = "fixed"  # the pull to the hand-crafted view per class: "fixed", or from that view's "accuracy" or
    #                        "confidence" on the training shots (classes it gets wrong are pulled less)
    ensemble_from: str = "fixed"  # inference weight of the hand-crafted view: `ensemble`, or "shots": its share of
    #                               the two views' accuracies on the training shots
    # vision-language prompts (IVLP, MaPLe, PromptSRC; muzairkhattak's reference configs)
    prompt_depth: int | None = None  # layers with prompts in each tower; None: 3/4 of them (9 of ViT-B/16's 12)
    n_ctx_vision: int = 4  # IVLP / PromptSRC vision prompt tokens (their text prompt has n_ctx)
    maple_n_ctx: int = 2  # MaPLe: prompt tokens in both towers (the first 2 words of ctx_init)
    src_text_weight: float = 25.0  # PromptSRC: L1 to the frozen template-ensemble text features
    src_image_weight: float = 10.0  # PromptSRC: L1 to the frozen image features
    gpa_mean: float = 15.0  # PromptSRC: Gaussian prompt aggregation over epochs (1-based), mean and std
    gpa_std: float = 1.0

    def __post_init__(self):
        check_numbers(self, "method")
        check(self.ctx_init is None or bool(self.ctx_init.strip()), "ctx_init must be words (e.g. 'a photo of a') "
              "or null for random context vectors, not an empty string")
        check(self.n_ctx >= 1, f"n_ctx must be at least 1, got {self.n_ctx}")
        check(self.class_position in ("end", "middle", "front"),
              f"class_position must be end, middle or front, got {self.class_position!r}")
        check(self.mi_estimator in OBJECTIVES, f"unknown mi_estimator {self.mi_estimator!r}; valid: {', '.join(OBJECTIVES)}")
        check(self.critic in CRITICS, f"unknown critic {self.critic!r}; valid: {', '.join(CRITICS)}")
        check(self.mixup in ("across", "within", "none"), f"mixup must be across, within or none, got {self.mixup!r}")
        check(min(self.kg_weight, self.mi_weight, self.critic_lr) >= 0 and self.mixup_alpha > 0,
              "kg_weight, mi_weight and critic_lr must be >= 0 and mixup_alpha > 0")
        check(0 <= self.ensemble <= 1, f"ensemble must be in [0, 1], got {self.ensemble}")
        check(self.mi_visual in ("none", "soft", "fused"), f"mi_visual must be none, soft or fused, got {self.mi_visual!r}")
        check(self.mi_visual_weight >= 0, f"mi_visual_weight must be >= 0, got {self.mi_visual_weight}")
        check(self.anchor in ("fixed", "accuracy", "confidence"),
              f"anchor must be fixed, accuracy or confidence, got {self.anchor!r}")
        check(self.anchor == "fixed" or self.mi_estimator == "infonce",
              f"anchor={self.anchor} weights InfoNCE's pairs; it needs mi_estimator=infonce, not {self.mi_estimator}")
        check(self.ensemble_from in ("fixed", "shots"), f"ensemble_from must be fixed or shots, got {self.ensemble_from!r}")
        check(self.prograd_lambda >= 0 and self.prograd_t > 0, "prograd_lambda must be >= 0 and prograd_t > 0")
        check(self.meta_hidden_ratio >= 1 and self.critic_hidden >= 1, "hidden sizes must be positive")
        check(self.prompt_depth is None or self.prompt_depth >= 1, f"prompt_depth must be >= 1, got {self.prompt_depth}")
        check(min(self.n_ctx_vision, self.maple_n_ctx) >= 1, "n_ctx_vision and maple_n_ctx must be at least 1")
        check(min(self.src_text_weight, self.src_image_weight) >= 0 and self.gpa_std > 0,
              "src_text_weight and src_image_weight must be >= 0 and gpa_std > 0")

    @classmethod
    def from_dict(cls, d: dict) -> "MethodConfig":
        return from_dict(cls, d, "method")
