"""May training on this CPU run in bf16 by default? The accuracy check, measured.

    python benchmarks/bf16_check.py --out results/miniature-v1/bf16_check.json

Trains CoOp, KgCoOp and dpt on the miniature's val split, seeds 1-3, once in fp32 and once under bf16
autocast (where the CPU has native bf16 units), and compares. The check passes when, for every method and
dataset, the bf16 mean of base, novel and HM over the seeds lies within the fp32 seeds' spread (min to max,
widened by one val image) and every final training loss is within 1% (relative) of fp32's. The runs' rows go to
a results file of their own, beside the output (their identities record the precision).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dpt.experiments.command_line import cache_from_environment  # noqa: E402
from dpt.experiments.base2novel import run_benchmark  # noqa: E402
from dpt.precision import cpu_native  # noqa: E402
from dpt.experiments.writers import write_record  # noqa: E402


def final_losses(profile_name: str, methods, seed: int = 1) -> list[dict]:
    """The mean loss of the last epoch, fp32 against bf16, for each method and dataset (seed 1)."""
    from dpt.backbones import load_backbone
    from dpt.experiments.profiles import get_profile
    from dpt.inputs import trial_inputs
    from dpt.run import run_trial
    from dataclasses import replace
    profile = get_profile(profile_name)
    backbone = load_backbone(profile.backbone)
    out = []
    for m in methods:
        for d in profile.datasets:
            from dpt.data import load_dataset
            ds = load_dataset(d)
            last = {}
            for precision in ("fp32", "bf16"):
                run = profile.run_config(m, seed, d, split="val")
                run = replace(run, train=replace(run.train, precision=precision))
                hist = run_trial(backbone, run, trial_inputs(backbone, ds, run, progress=False), progress=False)["history"]
                final = [h["loss"] for h in hist if h["epoch"] == hist[-1]["epoch"]]
                last[precision] = sum(final) / len(final)
            gap = abs(last["bf16"] - last["fp32"]) / max(1e-9, abs(last["fp32"]))
            out.append({"method": m, "dataset": d, "fp32": round(last["fp32"], 5), "bf16": round(last["bf16"], 5),
                        "relative_gap": round(gap, 5), "within_1pct": gap <= 0.01})
    return out


def main(argv=None):
    cache_from_environment()  # $DPT_CACHE, as the commands read it
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="miniature")
    ap.add_argument("--methods", nargs="+", default=["coop", "kgcoop", "dpt"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if not cpu_native("bf16"):
        sys.exit("this CPU has no native bf16 arithmetic: bf16 stays off (nothing to check)")
    rows_file = Path(args.out).with_name(Path(args.out).stem + "_runs.json")
    runs, seconds = {}, {}
    for precision in ("fp32", "bf16"):
        t0 = time.perf_counter()
        runs[precision] = run_benchmark(args.methods, None, args.seeds, rows_file, profile=args.profile, split="val",
                                        train_overrides={"precision": precision}, tag=None, progress=False)
        seconds[precision] = time.perf_counter() - t0
    report, ok = [], True
    for m in args.methods:
        for d in dict.fromkeys(r["dataset"] for r in runs["fp32"]):
            f = [r for r in runs["fp32"] if r["label"] == m and r["dataset"] == d]
            b = [r for r in runs["bf16"] if r["label"] == m and r["dataset"] == d]
            n_val = max(1, min(r["correct"]["base"]["n"] for r in f))
            cell = {"method": m, "dataset": d}
            for k in ("base", "novel", "hm"):
                lo, hi = min(r[k] for r in f) - 100 / n_val, max(r[k] for r in f) + 100 / n_val
                mean_b = sum(r[k] for r in b) / len(b)
                cell[k] = {"fp32": [min(r[k] for r in f), max(r[k] for r in f)], "bf16_mean": round(mean_b, 2),
                           "within": lo <= mean_b <= hi}
                ok &= cell[k]["within"]
            report.append(cell)
    losses = final_losses(args.profile, args.methods)
    for cell in losses:
        ok &= cell["within_1pct"]
    print(json.dumps({"accuracy": report, "final_losses": losses}, indent=1))
    verdict = {"passes": ok, "accuracy": report, "final_losses": losses, "rows": str(rows_file),
               "seconds": {k: round(v, 1) for k, v in seconds.items()}}
    write_record(args.out, verdict, "benchmarks/bf16_check.py")
    print(f"bf16 {'passes' if ok else 'fails'} the accuracy check; fp32 {seconds['fp32']:.0f} s, bf16 "
          f"{seconds['bf16']:.0f} s; written to {args.out}")


if __name__ == "__main__":
    main()
