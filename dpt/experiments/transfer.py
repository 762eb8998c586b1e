"""`python -m dpt transfer` and `python -m dpt shots`: the protocols beyond base-to-novel.

    python -m dpt transfer --source mini_colours --targets mini_colours miniature-domains miniature \
        --methods zeroshot coop kgcoop dpt --seeds 1 2 3     # results/<profile>/transfer.json
    python -m dpt shots --shots 1 2 4 8 16 --methods zeroshot coop kgcoop dpt --datasets miniature \
        --seeds 1                                            # results/<profile>/shots.json

transfer: train on all classes of the source (16 shots each), then score each target with its own class
names and template: other datasets (cross-dataset transfer) and the source's classes in other domains
(domain generalisation). Real path: --profile real --source ImageNet (targets: ImageNet, its 4 variants
and the other 10 datasets). shots: train on all classes with 1, 2, ... shots and score the same
dataset's test split (CoOp's few-shot curves). Rows: {label, method, source, target, shots, seed, split,
accuracy} plus the run identity; the same store, engines and reuse rules as base2novel.
"""
from __future__ import annotations

import argparse
import statistics

from .command_line import Parser
from ..config import check
from .datasets import resolve_dataset_names
from ..methods import METHODS, check_method
from .grid import grid, run_grid
from .options import add_run_arguments, parse_sets, run_kwargs
from .profiles import resolve_profile
from .store import ResultsStore
from .summary import distinguish


def run_transfer(methods, source=None, targets=None, seeds=(1, 2, 3), out=None, *, profile=None,
                 backbone_name=None, pretrained=None, device=None, method_overrides=None, split="test",
                 augment=None, views=None, **kw) -> list[dict]:
    """One row per (method, seed, target): trained on all classes of `source` (default: the profile's); stored
    in `out` (default: results/<profile>/transfer.json)."""
    profile = resolve_profile(profile, backbone_name, pretrained, device, augment, views)
    store = ResultsStore(profile.results_file("transfer") if out is None else out)
    source = source or profile.transfer_source
    check(bool(source), f"profile {profile.name!r} has no transfer source; pass --source DATASET")
    named = resolve_dataset_names([source])
    check(len(named) == 1, f"the transfer source {source!r} names {len(named)} datasets ({', '.join(named)}); a "
                           "transfer trains on one: give one dataset as its source (source=NAME)")
    [source] = named
    names = resolve_dataset_names(targets or profile.transfer_targets)
    trials = grid(methods, [source], list(seeds), method_overrides=method_overrides, targets=tuple(names))
    return run_grid(trials, profile, store, split=split, **kw)


def run_shots(methods, shots=(1, 2, 4, 8, 16), datasets=None, seeds=(1,), out=None, *, profile=None,
              backbone_name=None, pretrained=None, device=None, method_overrides=None, split="test",
              augment=None, views=None, **kw) -> list[dict]:
    """One row per (method, dataset, shots, seed): trained on all classes, scored on the same dataset (stored in
    `out`, default results/<profile>/shots.json). Methods that learn nothing (zero-shot) run once per dataset
    (their rows have shots None)."""
    profile = resolve_profile(profile, backbone_name, pretrained, device, augment, views)
    store = ResultsStore(profile.results_file("shots") if out is None else out)
    check(bool(shots), "give at least one shot count (--shots 1 2 4 8 16)")
    for m in methods:
        check_method(m)
    trials = []
    for name in resolve_dataset_names(datasets or profile.datasets):
        for i, n in enumerate(shots):
            chosen = [m for m in methods if METHODS[m].learns or i == 0]
            trials += grid(chosen, [name], list(seeds), method_overrides=method_overrides, targets=(name,), shots=n)
    return run_grid(trials, profile, store, split=split, **kw)


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def pivot(rows: list[dict], index: str, columns: str) -> dict:
    """{index value: {column value: (mean, std, n)}} of `accuracy` over seeds."""
    cells: dict = {}
    for r in rows:
        cells.setdefault(r[index], {}).setdefault(r[columns], []).append(r["accuracy"])
    return {i: {c: (*mean_std(v), len(v)) for c, v in cols.items()} for i, cols in cells.items()}


def format_pivot(table: dict, title: str) -> str:
    cols = list(dict.fromkeys(c for cells in table.values() for c in cells))
    w = max(10, *(len(str(i)) for i in table))
    cw = max(13, *(len(str(c)) for c in cols))
    lines = [f"{title:<{w}} " + " ".join(f"{str(c):>{cw}}" for c in cols)]
    for i, cells in table.items():
        lines.append(f"{str(i):<{w}} " + " ".join(
            f"{f'{cells[c][0]:6.2f} ± {cells[c][1]:4.2f}':>{cw}}" if c in cells else f"{'':>{cw}}" for c in cols))
    return "\n".join(lines)


def transfer_cells(rows: list[dict]) -> list[dict]:
    """Transfer rows with labels that tell apart identities other than the seed (summary.distinguish)."""
    return distinguish(rows, lambda r: (r["label"], r["source"], r["target"]))


def shots_cells(rows: list[dict]) -> list[dict]:
    return distinguish(rows, lambda r: (r["label"], r["source"], r["shots"]))


def transfer_table(rows: list[dict]) -> str:
    return format_pivot(pivot(transfer_cells(rows), "label", "target"), "method")


def _differences(boot, first: str, names: list[str], pairs, cell, label, images: str) -> str:
    """One line per name: a − b for each pair, with its paired 95% interval; '*' where it excludes zero."""
    w = max(14, *(len(n) for n in names))
    lines = [f"{first:<{w}} " + " ".join(f"{label(a) + ' − ' + label(b):>26}" for a, b in pairs)]
    for n in names:
        diffs = [boot.difference(cell(a, n), cell(b, n)) for a, b in pairs]
        lines.append(f"{n:<{w}} " + " ".join(f"{str(d) + ('*' if d.excludes_zero() else ' '):>26}" for d in diffs))
    lines.append(f"mean difference [95% paired-bootstrap interval over {images}]; * excludes zero")
    return "\n".join(lines)


def transfer_differences(rows: list[dict], pairs: list[tuple[str, str]]) -> str:
    """a − b on each target, mean over seeds, with its paired 95% interval over the target's test images."""
    from .bootstrap import AccuracyBootstrap
    rows = transfer_cells(rows)
    boot = AccuracyBootstrap(rows, cell=lambda r: (r["label"], r["target"]), pool=lambda r: r["target"])
    targets = list(dict.fromkeys(r["target"] for r in rows))
    return _differences(boot, "target", targets, pairs, lambda m, t: (m, t), str, "the target's test images")


def shots_differences(rows: list[dict], pairs: list[tuple], datasets: list[str]) -> str:
    """For each dataset, (label, shots) a minus (label, shots) b with its paired 95% interval over the test images
    (shots None: zero-shot)."""
    from .bootstrap import AccuracyBootstrap
    rows = shots_cells(rows)
    boot = AccuracyBootstrap(rows, cell=lambda r: (r["label"], r["source"], r["shots"]), pool=lambda r: r["source"])
    return _differences(boot, "dataset", datasets, pairs, lambda c, d: (c[0], d, c[1]),
                        lambda c: c[0] if c[1] is None else f"{c[0]}@{c[1]}", "the test images")


def shots_table(rows: list[dict]) -> str:
    """Accuracy by shots (columns) per dataset; a method without shots (zero-shot) in its own column."""
    out = []
    rows = shots_cells(rows)
    for name in dict.fromkeys(r["source"] for r in rows):
        mine = [{**r, "shots": r["shots"] or "-"} for r in rows if r["source"] == name]
        out.append(format_pivot(pivot(mine, "label", "shots"), name))
    return "\n\n".join(out)


def _parser(prog: str, doc: str) -> argparse.ArgumentParser:
    ap = Parser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=["zeroshot", "coop"], choices=list(METHODS), metavar="METHOD",
                    help=f"methods to run: {', '.join(METHODS)}")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="method options, e.g. mi_weight=0.5")
    ap.add_argument("--split", default="test", choices=["val", "test"], help="the targets' split to score")
    return ap


def transfer_parser() -> argparse.ArgumentParser:
    ap = _parser("python -m dpt transfer", __doc__)
    ap.add_argument("--source", default=None, help="dataset trained on, all classes (default: the profile's)")
    ap.add_argument("--targets", nargs="+", default=None,
                    help="datasets or aliases (miniature, miniature-domains, benchmarks, imagenet-variants) to score; "
                         "default: the profile's (the source, its domains and the other datasets)")
    ap.add_argument("--out", default=None, help="results file (default: results/<profile>/transfer.json)")
    add_run_arguments(ap, datasets=False)
    return ap


def transfer_main(argv=None):
    ap = transfer_parser()
    args = ap.parse_args(argv)
    kw = run_kwargs(args)
    rows = run_transfer(args.methods, args.source, args.targets, args.seeds, args.out,
                        method_overrides=parse_sets(args.set, "set"), split=args.split, **kw)
    print(transfer_table(rows))
    labels = list(dict.fromkeys(r["label"] for r in rows))
    if "dpt" in labels and all("correct" in r for r in rows):
        print(transfer_differences(rows, [("dpt", other) for other in labels if other != "dpt"]))


def shots_parser() -> argparse.ArgumentParser:
    ap = _parser("python -m dpt shots", __doc__)
    ap.add_argument("--out", default=None, help="results file (default: results/<profile>/shots.json)")
    add_run_arguments(ap, many_shots=True)
    ap.set_defaults(seeds=[1])
    return ap


def shots_main(argv=None):
    ap = shots_parser()
    args = ap.parse_args(argv)
    kw = run_kwargs(args)
    rows = run_shots(args.methods, kw.pop("shots"), args.datasets, args.seeds, args.out,
                     method_overrides=parse_sets(args.set, "set"), split=args.split, **kw)
    print(shots_table(rows))
