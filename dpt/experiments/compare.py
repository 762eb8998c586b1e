"""`python -m dpt compare`: a results file's base-to-novel table with 95% paired-bootstrap intervals over the
test images, and the difference between methods with its interval.

    python -m dpt compare results/base2novel.json --datasets miniature --vs dpt kgcoop dpt zeroshot

A method is better than another only where the interval of their difference excludes zero ("HM differs").
"""
from __future__ import annotations

import argparse

from .datasets import resolve_dataset_names
from ..errors import BadInput
from .command_line import Parser
from .store import read_rows
from .summary import format_differences, format_table, summarise


def select(rows: list[dict], labels=None, datasets=None, split: str = "test") -> list[dict]:
    """The base-to-novel rows of `split` with these labels and datasets (all, where None)."""
    return [r for r in rows if "dataset" in r and r["split"] == split and (not labels or r["label"] in labels)
            and (not datasets or r["dataset"] in datasets)]


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m dpt compare", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="a results file written by python -m dpt base2novel (or ablate, tune)")
    ap.add_argument("--labels", "--methods", nargs="+", default=None,
                    help="rows to show, in this order (default: all)")
    ap.add_argument("--datasets", nargs="+", default=None, help="names or aliases (default: all in the file)")
    ap.add_argument("--split", default="test", choices=["val", "test"])
    ap.add_argument("--vs", nargs="+", default=[], metavar="LABEL",
                    help="pairs A B [C D ...]: print A − B with its paired interval")
    return ap


def main(argv=None):
    ap = parser()
    args = ap.parse_args(argv)
    if len(args.vs) % 2:
        raise BadInput(f"--vs takes pairs of labels, got {len(args.vs)}: {' '.join(args.vs)}")
    datasets = resolve_dataset_names(args.datasets) if args.datasets else None
    pairs = list(zip(args.vs[::2], args.vs[1::2]))
    labels = set(args.labels or []) | set(args.vs) if args.labels else None
    rows = select(read_rows(args.results), labels, datasets, args.split)
    if not rows:
        raise BadInput(f"no {args.split} base-to-novel rows in {args.results} for these labels and datasets")
    missing = sorted({x for p in pairs for x in p} - {r["label"] for r in rows})
    if missing:
        raise BadInput(f"no rows labelled {', '.join(missing)} in {args.results}")
    print(format_table(summarise(rows), labels=args.labels, datasets=datasets))
    if pairs:
        print()
        print(format_differences(rows, pairs, sorted({r["dataset"] for r in rows})))
