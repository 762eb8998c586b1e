"""Rerun every committed results command (the Makefile's benchmark, tune, tune-image and protocols targets) with training and image encoding disabled: each must reuse every
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


def commands() -> list[str]:
    """The results commands of the Makefile's results targets (`python -m dpt ...` lines), in order."""
    out, target = [], None
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line and not line[0].isspace() and ":" in line:
            target = line.split(":")[0]
        elif target in RESULT_TARGETS and line.strip().startswith("$(BIN)/python -m dpt "):
            out.append(line.strip().removeprefix("$(BIN)/python -m dpt "))
    return out


RESULT_TARGETS = ("benchmark", "tune", "tune-image", "protocols")
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
        shutil.copytree(ROOT / "results", Path(tmp) / "results")  # into its own temporary folder
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DPT_CACHE": str(Path(tmp) / "cache")}
        for line in commands():
            out = subprocess.run([sys.executable, "-c", CHILD, *shlex.split(line), "--no-progress"], cwd=tmp,
                                 env=env, capture_output=True, text=True)
            reused = [l for l in out.stdout.splitlines() if l.startswith("reusing")]
            print(f"{'ok ' if out.returncode == 0 else 'FAIL'} python -m dpt {line}")
            if out.returncode:
                print(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.stdout[-500:])
                return 1
            print(f"     {sum(int(l.split()[1]) for l in reused)} stored run(s) reused")
        changed = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "results").rglob("*.json"))
                   if not filecmp.cmp(p, Path(tmp) / p.relative_to(ROOT), shallow=False)]
        print("every results file unchanged" if not changed else f"CHANGED: {', '.join(changed)}")
        return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
