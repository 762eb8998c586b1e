"""Prompt-tuning methods: coop.py (zeroshot, coop, coop_ensemble, kgcoop, prograd), cocoop.py, dual_view.py
(dpt) and multimodal.py (ivlp, maple, promptsrc). Importing this package registers them in METHODS."""
from .base import PromptMethod, ensembled
from .config import MethodConfig
from .registry import METHODS, build_method, check_method, method_fields, register
from .coop import CoOp, CoOpEnsemble, KgCoOp, ProGrad, ZeroShotCLIP
from .cocoop import CoCoOp
from .dual_view import DualViewPrompt
from .multimodal import IVLP, MaPLe, PromptSRC

__all__ = ["PromptMethod", "ensembled", "MethodConfig", "METHODS", "build_method", "check_method", "method_fields",
           "register", "ZeroShotCLIP", "CoOp", "CoOpEnsemble", "KgCoOp", "ProGrad", "CoCoOp", "DualViewPrompt",
           "IVLP", "MaPLe", "PromptSRC"]
