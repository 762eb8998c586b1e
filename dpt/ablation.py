"""`python -m dpt ablate`: the dual-view method with one piece changed at a time.

    python -m dpt ablate --datasets miniature --seeds 1 2 3 --split val --out results/ablation.json

Every variant is a `base2novel` run of `dpt` under a tag, so finished variants are skipped on a
rerun and the rows have the same format as the main benchmark. Choose settings on `--split val`;
report the chosen ones on test with `python -m dpt base2novel`.
"""
from __future__ import annotations

import argparse

from .base2novel import format_table, run_benchmark, summarise

# tag -> MethodConfig overrides of dpt (the default configuration is the first row)
ABLATIONS: dict[str, dict] = {
    "dpt": {},
    "no_mi": {"mi_weight": 0.0},
    "no_mixup": {"mixup": "none"},
    "no_mi_no_mixup": {"mi_weight": 0.0, "mixup": "none"},
    "mixup_within": {"mixup": "within"},
    "mixup_not_in_mi": {"mixup_in_mi": False},
    "mi_nwj": {"mi_estimator": "nwj"},
    "mi_dv": {"mi_estimator": "dv"},
    "mi_jsd": {"mi_estimator": "jsd"},
    "critic_separable": {"critic": "separable"},
    **{f"mi_weight_{w:g}": {"mi_weight": w} for w in (1.0, 3.0, 10.0, 100.0)},
}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m dpt ablate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["miniature"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--variants", nargs="+", default=list(ABLATIONS), choices=list(ABLATIONS))
    ap.add_argument("--baselines", nargs="*", default=["zeroshot", "coop", "kgcoop"],
                    help="also run these methods, for reference rows in the same table")
    ap.add_argument("--out", default="results/ablation.json")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    kw = dict(out=args.out, cache_dir=args.cache_dir, progress=not args.no_progress, split=args.split)
    rows = []
    if args.baselines:
        rows = run_benchmark(args.baselines, args.datasets, args.seeds, **kw)
    for tag in args.variants:
        rows = run_benchmark(["dpt"], args.datasets, args.seeds, method_overrides=ABLATIONS[tag], tag=tag, **kw)
    wanted = set(args.variants) | set(args.baselines)
    print(format_table(summarise([r for r in rows if r["method"] in wanted and r["seed"] in args.seeds])))


if __name__ == "__main__":
    main()
