"""How many encoded views per shot does a cached-feature method need to train as if it augmented every step?

    python benchmarks/augment_views.py --out results/miniature-v1/augment.json

The references draw a fresh random resized crop + flip of every image at every step. dpt's cached-feature
methods encode V augmented views of each shot once and cycle them over the epochs (dpt.inputs). This trains
CoOp on the miniature's val split, seeds 1-3, with no augmentation, with V = 1, 2, 4, 8, 16, 32 views, and
online (the reference's way), and reports each one's paired difference from online (95% bootstrap interval
over the val images, dpt.experiments.bootstrap).

The rules, fixed before the runs:
* V for the real profile: the smallest V whose HM differs from online by less than 1 point on the average
  with an interval that contains zero.
* The miniature's own default: CoOp, KgCoOp and dpt with that V against no augmentation on val; the miniature
  augments if the mean of the three HM differences is positive, else it trains on the evaluation transform.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dpt.experiments.command_line import cache_from_environment  # noqa: E402
from dpt.experiments.base2novel import run_benchmark  # noqa: E402
from dpt.experiments.bootstrap import Bootstrap  # noqa: E402
from dpt.experiments.summary import format_differences  # noqa: E402
from dpt.experiments.writers import write_record  # noqa: E402

VIEWS = (1, 2, 4, 8, 16, 32)


def label(method: str, augment: str, views: int = 0) -> str:
    return f"{method}[augment={augment}" + (f",views={views}]" if augment == "views" else "]")


def run(method, augment, views, args) -> list[dict]:
    return run_benchmark([method], args.datasets, args.seeds, args.out, profile=args.profile, split="val",
                         tag=label(method, augment, views), augment=augment, views=views if augment == "views" else 0,
                         progress=False)


def main(argv=None):
    cache_from_environment()  # $DPT_CACHE, as the commands read it
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="miniature")
    ap.add_argument("--datasets", nargs="+", default=None)
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--out", required=True, help="results file for the val runs")
    args = ap.parse_args(argv)
    rows = run("coop", "online", 0, args) + run("coop", "none", 0, args)
    for v in VIEWS:
        rows += run("coop", "views", v, args)
    online = label("coop", "online")
    pairs = [(label("coop", "none"), online)] + [(label("coop", "views", v), online) for v in VIEWS]
    print(format_differences(rows, pairs))
    boot = Bootstrap(rows)
    choice = None
    evidence = {}
    for v in VIEWS:
        d = boot.difference(label("coop", "views", v), online, "average", "hm")
        evidence[v] = {"hm_minus_online": round(d.mean, 2), "ci": [round(d.lo, 2), round(d.hi, 2)]}
        if choice is None and abs(d.mean) < 1 and not d.excludes_zero():
            choice = v
    print(f"\nV for the real profile: {choice} (the smallest V within 1 HM point of online, interval holding zero)")
    default_rows = []
    for method in ("coop", "kgcoop", "dpt"):
        default_rows += run(method, "none", 0, args) + run(method, "views", choice or VIEWS[-1], args)
    boot = Bootstrap(default_rows)
    gains = {m: boot.difference(label(m, "views", choice or VIEWS[-1]), label(m, "none"), "average", "hm")
             for m in ("coop", "kgcoop", "dpt")}
    for m, d in gains.items():
        print(f"{m}: views {choice or VIEWS[-1]} minus none, val HM {d}")
    mean_gain = sum(d.mean for d in gains.values()) / len(gains)
    verdict = "views" if mean_gain > 0 else "none"
    print(f"miniature default: augment {verdict} (mean HM difference {mean_gain:+.2f})")
    write_record(Path(args.out).with_name("augment_choice.json"), {
        "command": "python benchmarks/augment_views.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "real_views": choice, "views_vs_online": evidence,
        "miniature_default": verdict, "views_minus_none": {m: {"hm": round(d.mean, 2), "ci": [round(d.lo, 2),
                                                                                              round(d.hi, 2)]}
                                                           for m, d in gains.items()}}, "benchmarks/augment_views.py")

if __name__ == "__main__":
    main()
