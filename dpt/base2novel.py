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
import json
import os

from .config import get_profile, profile_for_backbone
from .data import resolve_dataset_names
from .errors import BadInput
from .grid import grid, run_grid
from .store import ResultsStore
from .summary import format_table, summarise


def run_benchmark(methods, datasets, seeds, out, *, profile=None, shots=None, backbone_name=None, pretrained=None,
                  device=None, data_root=None, download=False, cache_dir=None, runs_dir=None, train_overrides=None,
                  method_overrides=None, tag=None, variants=None, split="test", engine=None,
                  progress=True) -> list[dict]:
    """Rows of the grid methods × datasets × seeds (run or reused), stored in `out`; in grid order.
    profile: a Profile or its name (default: the one for `backbone_name`, else $DPT_PROFILE or miniature);
    datasets None: the profile's. variants: {label: (method, method overrides)}, run after `methods`."""
    store = ResultsStore(out)
    profile = resolve_profile(profile, backbone_name, pretrained, device)
    names = resolve_dataset_names(datasets or profile.datasets)
    trials = grid(methods, names, seeds, tag, method_overrides)
    for label, (method, overrides) in (variants or {}).items():
        trials += grid([method], names, seeds, label, overrides)
    return run_grid(trials, profile, store, shots=shots, split=split,
                    train_overrides=train_overrides, data_root=data_root, download=download, cache_dir=cache_dir,
                    runs_dir=runs_dir, engine=engine, progress=progress)


def resolve_profile(profile=None, backbone_name=None, pretrained=None, device=None):
    """A Profile or its name (default: the one for `backbone_name`, else $DPT_PROFILE or miniature),
    with the given fields replaced."""
    if isinstance(profile, str) or profile is None:
        profile = get_profile(profile) if profile or not backbone_name else profile_for_backbone(backbone_name)
    return profile.with_(backbone=backbone_name, pretrained=pretrained, device=device)


def parse_sets(pairs: list[str], what: str) -> dict:
    out = {}
    for p in pairs:
        if "=" not in p:
            raise BadInput(f"--{what} expects key=value, got {p!r}")
        k, v = p.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def add_run_arguments(ap: argparse.ArgumentParser, many_shots: bool = False) -> None:
    """Options shared by every command that runs a grid (`many_shots`: --shots takes a list)."""
    ap.add_argument("--datasets", nargs="+", default=None, help="names, or 'miniature' / 'benchmarks' (default: the profile's)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    if many_shots:
        ap.add_argument("--shots", nargs="+", type=int, default=[1, 2, 4, 8, 16], help="shots per class")
    else:
        ap.add_argument("--shots", type=int, default=None, help="shots per class (default 16)")
    ap.add_argument("--profile", default=None, choices=["miniature", "real"],
                    help="defaults for backbone, weights, datasets, device and epochs (default: miniature)")
    ap.add_argument("--backbone", default=None, help="miniclip or an open_clip model name")
    ap.add_argument("--pretrained", default=None, help="open_clip tag or checkpoint path ('default': shipped/openai)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--data-root", default=os.environ.get("DPT_DATA"))
    ap.add_argument("--download", action="store_true", help="let torchvision download datasets that it can")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--runs-dir", default=None, help="per-run logs and checkpoints (enables resuming a killed run)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--train-set", nargs="*", default=[], metavar="KEY=VALUE", help="TrainConfig options")
    ap.add_argument("--engine", default="local", choices=["local", "ray"])
    ap.add_argument("--address", default=None, help="Ray cluster address (HOST:PORT); default: start a local Ray")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    ap.add_argument("--gpus-per-trial", type=float, default=0.25, help="GPU fraction per Ray trial on CUDA")
    ap.add_argument("--no-progress", action="store_true")


def run_kwargs(args) -> dict:
    """run_benchmark keyword arguments from parsed `add_run_arguments` options."""
    from .engines import LocalEngine, RayEngine
    train = parse_sets(args.train_set, "train-set")
    if args.epochs is not None:
        train["epochs"] = args.epochs
    engine = (RayEngine(args.address, args.num_cpus, args.gpus_per_trial) if args.engine == "ray" else LocalEngine())
    return dict(profile=args.profile, shots=args.shots, backbone_name=args.backbone, pretrained=args.pretrained,
                device=args.device, data_root=args.data_root, download=args.download, cache_dir=args.cache_dir,
                runs_dir=args.runs_dir, train_overrides=train, engine=engine, progress=not args.no_progress)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m dpt base2novel", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=["zeroshot", "coop"])
    ap.add_argument("--out", default="results/base2novel.json")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="method options, e.g. mi_weight=0.5")
    ap.add_argument("--tag", default=None, help="name the rows (e.g. for ablations); default: the method")
    ap.add_argument("--split", default="test", choices=["val", "test"],
                    help="evaluate on val (for choosing settings) or test (for reporting)")
    add_run_arguments(ap)
    args = ap.parse_args(argv)
    rows = run_benchmark(args.methods, args.datasets, args.seeds, args.out, method_overrides=parse_sets(args.set, "set"),
                         tag=args.tag, split=args.split, **run_kwargs(args))
    print(format_table(summarise(rows)))
