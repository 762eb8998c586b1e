"""The references' base-to-novel recipes (recipes.json), and `python -m dpt recipes`, which prints them as the
table in docs/real-clip.md.

    python -m dpt recipes            # markdown: one line per method, with the file and commit it came from
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import BadInput, cause
from .command_line import Parser

RECIPES_FILE = Path(__file__).with_name("recipes.json")


def recipes() -> dict:
    """Each method's reference base-to-novel recipe, with its source and where dpt departs (a damaged file is one
    line that says how to restore it)."""
    try:
        table = json.loads(RECIPES_FILE.read_text())
        ok = (isinstance(table["common"], dict) and isinstance(table["methods"], dict)
              and all(isinstance(r["train"], dict) and isinstance(r["method"], dict)
                      and isinstance(r.get("per_dataset", {}), dict) for r in table["methods"].values())
              and {"momentum", "weight_decay", "warmup_epochs", "warmup_lr"} <= set(table["common"]))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        ok, why = False, cause(e)
    else:
        why = "its layout is not the recipes' (common, methods: train, method, per_dataset)"
    if not ok:
        raise BadInput(f"the recipes file {RECIPES_FILE} is damaged ({why}); restore it: git checkout "
                       "dpt/experiments/recipes.json, or reinstall dpt")
    return table


def _short(source: str) -> str:
    return re.sub(r"@([0-9a-f]{7})[0-9a-f]{33}", r"@\1", source)


def recipe_table() -> str:
    """The recipes as a markdown table (what docs/real-clip.md prints)."""
    table = recipes()
    common = table["common"]
    lines = ["| method | epochs | batch | lr | context (init) | depth | other | source | where dpt departs |",
             "|---|---|---|---|---|---|---|---|---|"]
    for method, r in table["methods"].items():
        t, m = r["train"], r["method"]
        per = "; ".join(f"{d}: {', '.join(f'{k} {v}' for k, v in o.items() if k != 'source')}"
                        for d, o in r["per_dataset"].items())
        ctx = m.get("maple_n_ctx", m.get("n_ctx"))
        ctx = f"{ctx}" + (f" + {m['n_ctx_vision']} vision" if "n_ctx_vision" in m else "") + f" ('{m.get('ctx_init')}')"
        other = ", ".join(f"{k} {v:g}" for k, v in m.items() if k not in ("n_ctx", "ctx_init", "maple_n_ctx",
                                                                           "n_ctx_vision", "prompt_depth",
                                                                           "class_specific", "class_position"))
        lines.append(f"| {method} | {t['epochs']}{f' ({per})' if per else ''} | {t['batch_size']} | {t['lr']:g} | {ctx} "
                     f"| {m.get('prompt_depth', '-')} | {other or '-'} | {_short(r['source'])} | {r['departs'] or '-'} |")
    lines.append("")
    lines.append(f"All: SGD (momentum {common['momentum']:g}, weight decay {common['weight_decay']:g}), "
                 f"{common['warmup_epochs']} constant warm-up epoch at {common['warmup_lr']:g}, then {common['scheduler']}; "
                 f"{common['shots']} shots; {common['augmentation']}; the references run CLIP in "
                 f"{common['reference_precision']} ({_short(common['source'])}). {table['dpt_departs']}")
    return "\n".join(lines)


def parser():
        return Parser(prog="python -m dpt recipes", description="each method's reference recipe, as "
                  "the table in docs/real-clip.md (markdown)")


def main(argv=None) -> None:
    parser().parse_args(argv)
    print(recipe_table())
