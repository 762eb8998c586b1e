"""`python -m dpt data`: which benchmark datasets are where dpt looks for them, before a real run needs them.

    python -m dpt data --data-root ~/data                 # the 11 benchmarks and ImageNet's 4 variants
    python -m dpt data --data-root ~/data --datasets DTD EuroSAT

One short line per dataset: found (classes, images per split, how many listed image files are missing) or
missing (the folder it expects), then where to get each missing one. Asked about particular datasets
(--datasets), the exit status is 1 when any of them is missing or incomplete, so a script can check before it
starts a run; the whole survey only reports (exit status 0).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .datasets import BENCHMARKS, IMAGENET_VARIANTS, resolve_dataset_names
from .datasets import COOP_DATASETS_MD, SOURCES, load_benchmark
from ..errors import BadInput, DptError, MissingData, cause
from .command_line import Parser


def check_dataset(name: str, root: Path, files: bool = True) -> tuple[bool, str]:
    """(ok, one short line about it)."""
    spec = BENCHMARKS.get(name) or IMAGENET_VARIANTS[name]
    try:
        ds = load_benchmark(name, root)
    except MissingData as e:
        if "torchvision" in str(e) and "not found under" not in str(e):  # a folder there that cannot be read
            return False, f"{name:<15} BROKEN   {e}"
        where = f"{spec.coop_dir}/{spec.split_file or ''}"
        tv = f" or torchvision's {spec.tv_dir.split('/')[0]}/ (--download)" if spec.downloadable else ""
        return False, f"{name:<15} missing  (expects {where}{tv})"
    except DptError as e:  # a split file that does not read (malformed, a disk error) included
        return False, f"{name:<15} BROKEN   {e}"
    sizes = "  ".join(f"{s} {len(ds.split(s)):>6}" for s in ("train", "val", "test"))
    line = f"{name:<15} found    {ds.num_classes:>5} classes  {sizes}"
    if files:
        missing, unreadable = [], []
        for split in ("train", "val", "test"):
            for it in ds.split(split):
                why = unreadable_image(it.source)
                if why == MISSING:
                    missing.append(it.source)
                elif why is not None:
                    unreadable.append(f"{it.source} ({why})")
        found = [f"{len(missing)} listed image(s) missing, e.g. {missing[0]}"] if missing else []
        found += [f"{len(unreadable)} listed image(s) unreadable, e.g. {unreadable[0]}"] if unreadable else []
        if found:
            return False, f"{line}  but {'; '.join(found)}"
    return True, line


MISSING = "missing"


def unreadable_image(source) -> str | None:
    """Why a listed image cannot be used (MISSING, or the error; None: its header reads as an image). A zero-byte
    file, a folder, a disk error: each is found here, not mid-run (a run reads the pixels when it encodes them)."""
    from PIL import Image
    if not isinstance(source, (str, os.PathLike)):  # torchvision's own layout: read through its dataset
        return None
    try:
        Image.open(source).close()  # reads the header: the format and size
    except FileNotFoundError:
        return MISSING
    except (OSError, SyntaxError, ValueError) as e:
        return cause(e, 80)
    return None


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m dpt data", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=os.environ.get("DPT_DATA"),
                    help="the folder that holds CoOp's dataset folders (default: $DPT_DATA)")
    ap.add_argument("--datasets", nargs="+", default=None, metavar="NAME",
                    help="benchmark names or 'benchmarks' / 'imagenet-variants' (default: all of them)")
    ap.add_argument("--no-files", action="store_true", help="do not check that every listed image file exists")
    return ap


def main(argv=None) -> None:
    ap = parser()
    args = ap.parse_args(argv)
    if not args.data_root:
        raise BadInput("give the data root: --data-root DIR (or set DPT_DATA), the folder that holds CoOp's dataset "
                       "folders (oxford_pets/, dtd/, ...)")
    root = Path(args.data_root).expanduser()
    if not root.is_dir():
        raise BadInput(f"--data-root {root} is not a folder")
    names = resolve_dataset_names(args.datasets or [*BENCHMARKS, *IMAGENET_VARIANTS])
    real = [n for n in names if n in BENCHMARKS or n in IMAGENET_VARIANTS]
    if len(real) < len(names):
        raise BadInput(f"{', '.join(n for n in names if n not in real)}: not a benchmark dataset (the miniature's "
                       "datasets are generated, never on disk)")
    results = [check_dataset(n, root, not args.no_files) for n in real]
    print(f"datasets under {root}:")
    for ok, line in results:
        print(f"  {line}")
    bad = [n for n, (ok, _) in zip(real, results) if not ok]
    if not bad:
        print(f"all {len(real)} found")
        return
    print(f"{len(real) - len(bad)} of {len(real)} found. Where to get the others (CoOp's DATASETS.md has the "
          f"links and split files: {COOP_DATASETS_MD}):")
    for n in bad:
        print(f"  {n:<15} {SOURCES[n]}")
    if args.datasets:  # asked about these: a script can test the exit status
        sys.exit(1)
