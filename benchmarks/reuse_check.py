"""Rerun every committed results command with training and image encoding disabled: each must reuse every
stored row, and every results file must stay byte for byte what is committed.

    python benchmarks/reuse_check.py            # from the repository root

Run it after a change that should not move any number (a refactor): a run whose identity changed would have
to train, and fails here instead. It works on a copy of results/ in a temporary folder, so nothing committed
is touched.
"""
from __future__ import annotations

import filecmp
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = """
base2novel --methods zeroshot coop cocoop kgcoop prograd ivlp maple promptsrc dpt --datasets miniature --seeds 1 2 3 --out results/base2novel.json
base2novel --methods zeroshot coop cocoop kgcoop prograd ivlp maple promptsrc dpt --datasets miniature-control --seeds 1 2 3 --out results/base2novel.json
tune --methods dpt kgcoop coop_ensemble coop prograd ivlp maple promptsrc --datasets miniature --seeds 1 2 3 --split val --out results/tuning.json --runs results/tuning_runs.json --test-out results/base2novel.json
ablate --variants dpt no_mi mi_alignment critic_separable --baselines kgcoop --split test --datasets miniature --seeds 1 2 3 --out results/mi_questions.json
base2novel --methods dpt_hand_ensemble --datasets miniature --seeds 1 2 3 --out results/mi_questions.json
ablate --datasets miniature --seeds 1 2 3 --split val --out results/ablation.json
transfer --source mini_colours --targets mini_colours miniature-domains miniature --methods zeroshot coop kgcoop dpt --seeds 1 2 3 --out results/transfer.json
shots --shots 1 2 4 8 16 --methods zeroshot coop kgcoop dpt --datasets miniature --seeds 1 --out results/shots.json
"""
# Runs inside the child: the training and encoding entry points refuse, then the command line runs.
CHILD = """
import sys
import dpt.features, dpt.run, dpt.trainer
def refuse(*a, **k):
    raise SystemExit("a run was about to train or encode images: its identity is not in the results file")
dpt.run.train = dpt.trainer.train = dpt.features._encode = refuse
from dpt.experiments.cli import main
sys.argv = ["dpt", *sys.argv[1:]]
main()
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "results", Path(tmp) / "results")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DPT_CACHE": str(Path(tmp) / "cache")}
        for line in filter(None, map(str.strip, COMMANDS.splitlines())):
            out = subprocess.run([sys.executable, "-c", CHILD, *shlex.split(line), "--no-progress"], cwd=tmp,
                                 env=env, capture_output=True, text=True)
            reused = [l for l in out.stdout.splitlines() if l.startswith("reusing")]
            print(f"{'ok ' if out.returncode == 0 else 'FAIL'} python -m dpt {line}")
            if out.returncode:
                print(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.stdout[-500:])
                return 1
            print(f"     {sum(int(l.split()[1]) for l in reused)} stored run(s) reused")
        changed = [p.name for p in sorted((ROOT / "results").glob("*.json"))
                   if not filecmp.cmp(p, Path(tmp) / "results" / p.name, shallow=False)]
        print("every results file unchanged" if not changed else f"CHANGED: {', '.join(changed)}")
        return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
