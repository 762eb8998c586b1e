"""Prompt-tuning methods. They share the trainer and differ only in their prompt module and loss.

zeroshot, coop, coop_ensemble, kgcoop, prograd    coop.py       (one soft prompt, a loss or a test-time mix)
cocoop                                            cocoop.py     (one prompt set per image)
dpt                                               dual_view.py  (this project's method)
dpt_hand_ensemble (and dpt's rejected variants)   dual_view_variants.py
ivlp, maple, promptsrc                            multimodal.py (deep prompts in both towers)

Importing this package registers all of them in METHODS (registry.py).
"""
from .base import PromptMethod, ensembled
from .config import MethodConfig
from .registry import METHODS, build_method, check_method, method_fields, register
from .coop import CoOp, CoOpEnsemble, KgCoOp, ProGrad, ZeroShotCLIP
from .cocoop import CoCoOp
from .dual_view import DualViewPrompt
from .dual_view_variants import DualViewEnsemble, DualViewVariants
from .multimodal import IVLP, MaPLe, PromptSRC

__all__ = ["PromptMethod", "ensembled", "MethodConfig", "METHODS", "build_method", "check_method", "method_fields",
           "register", "ZeroShotCLIP", "CoOp", "CoOpEnsemble", "KgCoOp", "ProGrad", "CoCoOp", "DualViewPrompt",
           "DualViewVariants", "DualViewEnsemble", "IVLP", "MaPLe", "PromptSRC"]
