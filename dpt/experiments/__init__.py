"""The experiment layer: protocols (base-to-novel, transfer and few-shot, ablation, tuning) and the machinery
that runs, stores, compares and reports them, and the command line. It imports the library (`dpt`); the
library never imports it. Importing it registers dpt's rejected variants (variants.py) beside the methods."""
from ..scripts import module_run_as_script, refuse
from . import datasets, miniclip_v2, variants  # noqa: F401  (the real benchmarks, miniclip-v2 and dpt's rejected
#                                                variants register with the library)

if (_module := module_run_as_script() or "").startswith("dpt.experiments."):  # a command's module run as a script
    from .cli import COMMANDS
    refuse(_module, "<command>" if _module == "dpt.experiments.cli" else
           " or ".join(c for c, (m, *_) in COMMANDS.items() if f"dpt.experiments.{m}" == _module) or None)
