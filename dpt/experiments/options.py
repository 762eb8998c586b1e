"""The command-line options every command that runs a grid shares, and how they become run_benchmark's
keyword arguments."""
from __future__ import annotations

import argparse
import json
import os

from ..errors import BadInput


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
