"""`python -m dpt ablate`: the dual-view method with one piece changed at a time.

    python -m dpt ablate --datasets miniature --seeds 1 2 3 --split val     # results/<profile>/ablation.json

Every variant is a `base2novel` run of `dpt` under a tag, so finished variants are reused on a
rerun and the rows have the same format (and identity) as the main benchmark. Choose settings on
`--split val`; report the chosen ones on test with `python -m dpt base2novel`.
"""
from __future__ import annotations

import argparse

from .command_line import Parser
from .base2novel import run_benchmark
from .options import add_run_arguments, run_kwargs
from .profiles import resolve_profile
from .summary import format_table, summarise

# tag -> MethodConfig overrides of dpt (the default configuration is the first row)
ABLATIONS: dict[str, dict] = {
    "dpt": {},
    "no_mi": {"mi_weight": 0.0},
    "no_mixup": {"mixup": "none"},
    "no_mi_no_mixup": {"mi_weight": 0.0, "mixup": "none"},
    "mixup_within": {"mixup": "within", "mixup_in_mi": False},  # one-hot targets: no MI pairs (see check_run)
    "mixup_not_in_mi": {"mixup_in_mi": False},
    "mi_nwj": {"mi_estimator": "nwj"},
    "mi_dv": {"mi_estimator": "dv"},
    "mi_jsd": {"mi_estimator": "jsd"},
    "critic_separable": {"critic": "separable"},
    "mi_alignment": {"mi_estimator": "alignment"},  # InfoNCE's positive term only: no negatives
    "no_ensemble": {"ensemble": 0.0},  # the soft view alone at inference
    **{f"mi_weight_{w:g}": {"mi_weight": w} for w in (1.0, 3.0, 30.0, 100.0)},  # dpt's own: 10
}
BASELINES = ["zeroshot", "coop", "kgcoop", "prograd", "ivlp", "maple", "promptsrc"]


def run_ablation(datasets=None, seeds=(1, 2, 3), out=None, variants=None, baselines=BASELINES,
                 split="val", **kw) -> list[dict]:
    """Rows of the baselines and every dpt variant (run or reused), in that order, as one grid (stored in `out`,
    default results/<profile>/ablation.json)."""
    chosen = {tag: ("dpt", ABLATIONS[tag]) for tag in (variants or ABLATIONS)}
    if out is None:
        out = resolve_profile(kw.get("profile"), kw.get("backbone_name")).results_file("ablation")
    return run_benchmark(list(baselines), datasets, list(seeds), out, variants=chosen, split=split, **kw)


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m dpt ablate", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--variants", nargs="+", default=list(ABLATIONS), choices=list(ABLATIONS))
    ap.add_argument("--baselines", nargs="*", default=BASELINES,
                    help="also run these methods, for reference rows in the same table")
    ap.add_argument("--out", default=None, help="results file (default: results/<profile>/ablation.json)")
    add_run_arguments(ap)
    return ap


def main(argv=None):
    ap = parser()
    args = ap.parse_args(argv)
    rows = run_ablation(args.datasets, args.seeds, args.out, args.variants, args.baselines, args.split, **run_kwargs(args))
    print(format_table(summarise(rows)))
