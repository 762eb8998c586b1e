"""What the corrected schedule moved: every method's base-to-novel rows before (results/legacy-schedule/,
dpt's old lr_at, one epoch ahead of Dassl's) and after (results/miniature-v1/), mean over seeds 1-3, test split.

    python benchmarks/schedule_shift.py

Rows are matched by (label, dataset, seed) among those whose settings other than the schedule are the same
(the old identity had no augmentation or precision fields, and trained without augmentation in fp32)."""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dpt.experiments.store import read_rows  # noqa: E402


def same_settings(old: dict, new: dict) -> bool:
    """Same method config (the fields the old row records; newer dpt records more, at their old defaults),
    training settings but the precision, and shots."""
    o, n = old["identity"], new["identity"]
    strip = lambda t: {k: v for k, v in (t or {}).items() if k != "precision"}
    return (all(n["method_config"].get(k) == v for k, v in o["method_config"].items())
            and strip(o["train"]) == strip(n["train"]) and o["shots"] == n["shots"])


def main() -> None:
    old = read_rows(ROOT / "results/legacy-schedule/base2novel.json")
    new = [*read_rows(ROOT / "results/miniature-v1/base2novel.json"),  # dpt at its old defaults lives beside it:
           *read_rows(ROOT / "results/miniature-v1/dpt_before_search.json")]
    index = {}
    for r in old:
        if r["split"] == "test":
            index.setdefault((r["label"], r["dataset"], r["seed"]), []).append(r)
    pairs = {}
    for r in new:
        o = next((o for o in index.get((r["label"], r["dataset"], r["seed"]), []) if same_settings(o, r)), None)
        if o is not None and r["split"] == "test":
            pairs.setdefault((r["label"], r["dataset"]), []).append((o, r))
    print(f"{'method':<10} {'dataset':<20} {'HM before':>9} {'HM after':>9} {'moved':>7}")
    for (label, d), ps in sorted(pairs.items()):
        before = statistics.fmean(o["hm"] for o, _ in ps)
        after = statistics.fmean(n["hm"] for _, n in ps)
        print(f"{label:<10} {d:<20} {before:9.2f} {after:9.2f} {after - before:+7.2f}")
    if not pairs:
        raise SystemExit("no rows of the same settings in both files")
    moves = [abs(statistics.fmean(n["hm"] - o["hm"] for o, n in ps)) for ps in pairs.values()]
    print(f"{len(pairs)} (method, dataset) cells; largest move {max(moves):.2f} HM points, mean |move| "
          f"{statistics.fmean(moves):.2f}")


if __name__ == "__main__":
    main()
