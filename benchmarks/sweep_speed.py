"""Wall time of one base-to-novel grid on the local engine and on a local Ray, side by side.

    python benchmarks/sweep_speed.py --out results/sweep_speed.json

Both engines run the same grid into fresh results files, after the features are cached (so both
time training and scoring only). Ray's time includes starting and stopping Ray. The script checks
that both engines give the same rows (identity and scores) and exits non-zero otherwise. On this
project's 2-core machine the ratio is about 1 or below: the point of the Ray engine is that the
same command spreads over a cluster's cores and GPUs, which one process cannot.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dpt.experiments.command_line import cache_from_environment  # noqa: E402
from dpt.experiments.base2novel import run_benchmark  # noqa: E402
from dpt.experiments.engines import LocalEngine, RayEngine  # noqa: E402
from dpt.experiments.writers import write_record  # noqa: E402

KEYS = ("label", "dataset", "seed", "base", "novel", "hm", "run_id")


def main(argv=None):
    cache_from_environment()  # $DPT_CACHE, as the commands read it
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=["coop", "kgcoop", "dpt"])
    ap.add_argument("--datasets", nargs="+", default=["mini_toys", "mini_paints"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--cpus", type=int, default=os.cpu_count())
    ap.add_argument("--out", default="results/sweep_speed.json")
    args = ap.parse_args(argv)
    grid = dict(methods=args.methods, datasets=args.datasets, seeds=args.seeds, split="val", progress=False)
    work = Path(tempfile.mkdtemp(prefix="dpt-sweep-"))
    run_benchmark(out=work / "warm.json", **{**grid, "methods": ["zeroshot", "coop"], "seeds": [99]})  # cache features
    timings, rows = {}, {}
    for name, engine in (("local", LocalEngine()), ("ray", RayEngine(num_cpus=args.cpus))):
        t0 = time.perf_counter()
        rows[name] = run_benchmark(out=work / f"{name}.json", engine=engine, **grid)
        timings[name] = time.perf_counter() - t0
    same = [{k: r[k] for k in KEYS} for r in rows["local"]] == [{k: r[k] for k in KEYS} for r in rows["ray"]]
    record = {"grid": grid, "runs": len(rows["local"]), "cpus": args.cpus, "machine": platform.machine(),
              "torch_threads": torch.get_num_threads(), "wall_sec": {k: round(v, 1) for k, v in timings.items()},
              "local_over_ray": round(timings["local"] / timings["ray"], 2), "same_rows": same}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, record, "benchmarks/sweep_speed.py")
    print(json.dumps(record, indent=1))
    if not same:
        sys.exit("the Ray engine's rows differ from the local engine's")


if __name__ == "__main__":
    main()
