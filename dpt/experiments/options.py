"""The command-line options every command that runs a grid shares, and how they become run_benchmark's
keyword arguments."""
from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

from ..errors import BadInput
from .profiles import PROFILE_NAMES

GPUS_PER_TRIAL = 0.25


def parse_sets(pairs: list[str], what: str) -> dict:
    """KEY=VALUE pairs (values as JSON where they parse: numbers, true/false, null), each key once."""
    out = {}
    for p in pairs:
        if "=" not in p or not p.split("=", 1)[0]:
            raise BadInput(f"--{what} expects key=value, got {p!r}")
        k, v = p.split("=", 1)
        if k in out:
            raise BadInput(f"--{what} gives {k} twice ({out[k]!r} and {v!r}); give it once")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
        if isinstance(out[k], float) and not math.isfinite(out[k]):
            raise BadInput(f"--{what} {k}={v}: give a finite number")
    return out


def add_run_arguments(ap: argparse.ArgumentParser, many_shots: bool = False, grid: bool = True,
                      datasets: bool = True) -> None:
    """Options shared by every command that runs a grid (`many_shots`: --shots takes a list; grid=False: a command
    whose plan fixes the datasets, seeds, shots, profile and training settings, which it then does not offer;
    datasets=False: a command that names its datasets otherwise, as transfer's --source and --targets)."""
    if grid:
        if datasets:
            ap.add_argument("--datasets", nargs="+", default=None,
                            help="names, or 'miniature' / 'benchmarks' (default: the profile's)")
        ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
        if many_shots:
            ap.add_argument("--shots", nargs="+", type=int, default=[1, 2, 4, 8, 16], help="shots per class")
        else:
            ap.add_argument("--shots", type=int, default=None,
                            help="shots per class (default: $DPT_SHOTS, else 16)")
        ap.add_argument("--profile", default=None, choices=list(PROFILE_NAMES),
                        help="defaults for backbone, weights, datasets, device, schedules, augmentation and the "
                             "results files (default: $DPT_PROFILE, else miniature)")
        ap.add_argument("--epochs", type=int, default=None,
                        help="epochs of every method (default: $DPT_EPOCHS, else each method's schedule)")
        ap.add_argument("--train-set", nargs="*", default=[], metavar="KEY=VALUE", help="TrainConfig options")
    ap.set_defaults(**({} if grid else {"seeds": None, "shots": None, "profile": None, "epochs": None, "train_set": [],
                                        "plan_fixes_training": True}),
                    **({} if grid and datasets else {"datasets": None}))
    ap.add_argument("--backbone", default=None, help="miniclip or an open_clip model name")
    ap.add_argument("--pretrained", default=None, help="open_clip tag or checkpoint path ('default': shipped/openai)")
    ap.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: $DPT_DEVICE, else the profile's)")
    ap.add_argument("--data-root", default=os.environ.get("DPT_DATA"))
    ap.add_argument("--download", action="store_true", help="let torchvision download datasets that it can")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--runs-dir", default=None, help="per-run logs and checkpoints (enables resuming a killed run)")
    ap.add_argument("--engine", default="local", choices=["local", "ray"])
    ap.add_argument("--address", default=None, help="Ray cluster address (HOST:PORT); default: start a local Ray")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    ap.add_argument("--gpus-per-trial", type=float, default=GPUS_PER_TRIAL, help="GPU fraction per Ray trial on CUDA")
    ap.add_argument("--augment", default=None, choices=["none", "views", "online"],
                    help="training augmentation (default: the profile's): none, views (V encoded views per shot, "
                         "cycled over epochs) or online (a fresh crop + flip every step)")
    ap.add_argument("--views", type=int, default=None, help="V, with --augment views (default: the profile's)")
    ap.add_argument("--save-prompts", default=None, metavar="DIR",
                    help="write each learned run's prompt to a file in DIR (python -m dpt evaluate / predict use it)")
    ap.add_argument("--mix-backbones", action="store_true",
                    help="allow rows of another backbone or other weights in the same results file")
    ap.add_argument("--no-progress", action="store_true")


def check_run_arguments(args) -> None:
    """The checks of the shared options that need no file or model: combinations that cannot mean anything."""
    if args.engine == "local":
        given = [o for o, v in (("--address", args.address), ("--num-cpus", args.num_cpus)) if v is not None]
        if args.gpus_per_trial != GPUS_PER_TRIAL:
            given.append("--gpus-per-trial")
        if given:
            raise BadInput(f"{', '.join(given)} configure the Ray engine; add --engine ray, or drop them")
    if args.num_cpus is not None and args.num_cpus < 1:
        raise BadInput(f"--num-cpus must be at least 1, got {args.num_cpus}")
    if not 0 < args.gpus_per_trial <= 1 or not math.isfinite(args.gpus_per_trial):
        raise BadInput(f"--gpus-per-trial must be in (0, 1], got {args.gpus_per_trial}")
    if args.views is not None and args.augment not in (None, "views"):
        raise BadInput(f"--views goes with --augment views, not --augment {args.augment}")
    if args.augment == "views" and args.views is None and profile_views(args) == 0:
        raise BadInput("--augment views needs --views V (how many encoded views of each shot; the profile has none)")
    if args.views is not None and not 1 <= args.views <= 1024:
        raise BadInput(f"--views must be between 1 and 1024, got {args.views}")
    if args.epochs is not None and args.epochs < 1:
        raise BadInput(f"epochs must be at least 1, got {args.epochs}")
    shots = args.shots if isinstance(args.shots, list) else [args.shots] if args.shots is not None else []
    bad = [n for n in shots if not 1 <= n < 2 ** 31]
    if bad:
        raise BadInput(f"shots must be whole numbers of at least 1, got {bad[0]}")
    if len(set(shots)) < len(shots):
        raise BadInput(f"--shots lists {', '.join(map(str, sorted({n for n in shots if shots.count(n) > 1})))} twice")
    for option, path in (("--runs-dir", args.runs_dir), ("--cache-dir", args.cache_dir),
                         ("--save-prompts", args.save_prompts)):
        if path and Path(path).expanduser().exists() and not Path(path).expanduser().is_dir():
            raise BadInput(f"{option} {path} is a file; give a folder (it holds one sub-folder or file per run)")
    if args.device is not None:
        from ..backbones import check_device
        check_device(args.device)
    if getattr(args, "methods", None):  # the grid's one check of training options, with the command's own
        from .grid import check_training_options
        check_training_options(args.methods, {}, {"--augment": args.augment, "--views": args.views,
                                                  "--runs-dir": args.runs_dir})


def profile_views(args) -> int:
    from .profiles import get_profile
    return get_profile(args.profile).views


# The variables the notebooks read (dpt.experiments.course) are the commands' defaults too: option <- variable
ENVIRONMENT_DEFAULTS = (("device", "DPT_DEVICE"), ("epochs", "DPT_EPOCHS"), ("shots", "DPT_SHOTS"))


def environment_defaults(args) -> None:
    """Fill --device, and on the real profile --epochs and --shots (one value), from DPT_DEVICE, DPT_EPOCHS and
    DPT_SHOTS where the command line leaves them out, and say so in one line (a run's identity records what it
    used). The miniature's commands never take a budget from the environment, as its notebooks do not: its
    committed results are reproduced at its own schedules."""
    from .profiles import get_profile
    from ..methods import METHODS
    real = get_profile(getattr(args, "profile", None)).name == "real"
    trains = any(METHODS[m].learns for m in getattr(args, "methods", None) or METHODS)
    used = []
    for option, variable in ENVIRONMENT_DEFAULTS:
        value = os.environ.get(variable, "").strip()
        if not value or not hasattr(args, option) or getattr(args, option) is not None:
            continue
        if option != "device" and (getattr(args, "plan_fixes_training", False) or not real or not trains):
            continue  # a search plan fixes them; the miniature keeps its schedules; zero-shot has none
        if option != "device":
            if not value.isdigit() or int(value) < 1:
                raise BadInput(f"{variable}={value!r}: give a whole number of at least 1 (or unset it)")
            value = int(value)
        setattr(args, option, value)
        used.append(f"--{option} {value} (from {variable})")
    if used:
        print(f"note: {', '.join(used)}")


def run_kwargs(args) -> dict:
    """run_benchmark keyword arguments from parsed `add_run_arguments` options (checked first)."""
    from .engines import LocalEngine, RayEngine
    environment_defaults(args)
    check_run_arguments(args)
    train = parse_sets(args.train_set, "train-set")
    if args.epochs is not None:
        train["epochs"] = args.epochs
    engine = (RayEngine(args.address, args.num_cpus, args.gpus_per_trial) if args.engine == "ray" else LocalEngine())
    return dict(profile=args.profile, shots=args.shots, backbone_name=args.backbone, pretrained=args.pretrained,
                device=args.device, data_root=args.data_root, download=args.download, cache_dir=args.cache_dir,
                runs_dir=args.runs_dir, train_overrides=train, engine=engine, augment=args.augment, views=args.views,
                mix_backbones=args.mix_backbones, save_prompts=args.save_prompts, progress=not args.no_progress)
