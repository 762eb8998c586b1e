"""`python -m dpt base2novel`: train and evaluate every (method, dataset, seed), print a table, store the rows.

    python -m dpt base2novel --methods zeroshot coop cocoop kgcoop dpt --datasets miniature \
        --seeds 1 2 3 --out results/base2novel.json

Every row carries its run identity (method and the options it reads, training config, shots, seed,
split, dataset and data fingerprint, backbone and weights fingerprint). A run whose identity is
already in --out is reused (and said so); any other run adds a row and never replaces one with
another identity. Bad input stops before any work with one line. Real datasets and ViT-B-16:
    python -m dpt base2novel --profile real --data-root ~/data --datasets OxfordPets DTD ...
On Ray (a local one, or a cluster's head):  ... --engine ray [--address HOST:PORT]
"""
from __future__ import annotations

import argparse

from .command_line import Parser
from .datasets import resolve_dataset_names
from ..methods import METHODS
from .grid import grid, run_grid
from .options import add_run_arguments, parse_sets, run_kwargs
from .profiles import resolve_profile
from .store import ResultsStore
from .summary import format_table, summarise


def run_benchmark(methods, datasets, seeds, out=None, *, profile=None, shots=None, backbone_name=None, pretrained=None,
                  device=None, data_root=None, download=False, cache_dir=None, runs_dir=None, train_overrides=None,
                  method_overrides=None, tag=None, variants=None, split="test", engine=None, augment=None,
                  views=None, mix_backbones=False, save_prompts=None, progress=True, on_reuse=None) -> list[dict]:
    """Rows of the grid methods × datasets × seeds (run or reused), stored in `out` (default: the profile's
    results/<profile>/base2novel.json); in grid order. profile: a Profile or its name (default: the one for
    `backbone_name`, else $DPT_PROFILE or miniature); datasets None: the profile's. variants: {label: (method,
    method overrides)}, run after `methods`. on_reuse: see run_grid."""
    profile = resolve_profile(profile, backbone_name, pretrained, device, augment, views)
    store = ResultsStore(profile.results_file("base2novel") if out is None else out)
    names = resolve_dataset_names(datasets or profile.datasets)
    trials = grid(methods, names, seeds, tag, method_overrides)
    for label, (method, overrides) in (variants or {}).items():
        trials += grid([method], names, seeds, label, overrides)
    return run_grid(trials, profile, store, shots=shots, split=split,
                    train_overrides=train_overrides, data_root=data_root, download=download, cache_dir=cache_dir,
                    runs_dir=runs_dir, engine=engine, progress=progress, mix_backbones=mix_backbones,
                    save_prompts=save_prompts, on_reuse=on_reuse)


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m dpt base2novel", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=["zeroshot", "coop"], choices=list(METHODS), metavar="METHOD",
                    help=f"methods to run: {', '.join(METHODS)}")
    ap.add_argument("--out", default=None, help="results file (default: results/<profile>/base2novel.json)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="method options, e.g. mi_weight=0.5")
    ap.add_argument("--tag", default=None, help="name the rows (e.g. for ablations); default: the method")
    ap.add_argument("--split", default="test", choices=["val", "test"],
                    help="evaluate on val (for choosing settings) or test (for reporting)")
    add_run_arguments(ap)
    return ap


def main(argv=None):
    ap = parser()
    args = ap.parse_args(argv)
    rows = run_benchmark(args.methods, args.datasets, args.seeds, args.out, method_overrides=parse_sets(args.set, "set"),
                         tag=args.tag, split=args.split, **run_kwargs(args))
    labels = [args.tag] if args.tag else args.methods
    print(format_table(summarise(rows), labels=labels, datasets=list(dict.fromkeys(r["dataset"] for r in rows))))
