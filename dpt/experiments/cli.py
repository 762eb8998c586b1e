"""`python -m dpt <command>`

  info        environment, device and the miniature backbone
  base2novel  train and evaluate methods on base/novel classes (see --help)
  ablate      the dual-view method with one piece changed at a time (see --help)
  transfer    train on all classes of a source, score other datasets and domains (see --help)
  shots       few-shot curves: all classes, 1 to 16 shots (see --help)
  tune        the same val search of every method's main knob, then one test run with the choice (see --help)
  compare     a results file's table with 95% bootstrap intervals, and paired differences between methods
  course      execute every notebook in notebooks/ top to bottom, in place (outputs and figures)
  colab       give every notebook the Colab badge and install cell for dpt.experiments.colab.REPOSITORY
"""
import sys
import time

from ..errors import BadInput, run_cli


def info() -> None:
    import platform

    import open_clip
    import torch

    from ..backbones import load_backbone, miniclip_info
    print(f"python {platform.python_version()}  torch {torch.__version__}  open_clip {open_clip.__version__}")
    print(f"device: {'cuda (' + torch.cuda.get_device_name(0) + ')' if torch.cuda.is_available() else 'cpu'}")
    bb = load_backbone("miniclip")
    n = sum(p.numel() for p in bb.model.parameters())
    rec = miniclip_info()
    print(f"miniclip: {n / 1e6:.2f}M parameters, pretrained {rec['steps']} steps, final loss {rec['final_loss']:.3f}")
    for name, r in rec.get("zero_shot", {}).items():
        print(f"  zero-shot {name:<12} base {r['base']:.1f}  novel {r['novel']:.1f}  (val)")


def course(argv) -> None:
    """Run the notebook course in place, in order, so stored outputs and figures/ are regenerated."""
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient
    from tqdm.auto import tqdm

    if argv and argv[0].startswith("-"):
        print("usage: python -m dpt course [FOLDER]   (default: notebooks/)")
        return
    folder = Path(argv[0]) if argv else Path("notebooks")
    if not folder.is_dir():
        raise BadInput(f"notebook folder {folder} does not exist; run from the repository root or pass the "
                       "folder that holds the course notebooks")
    books = sorted(folder.glob("*.ipynb"))
    if not books:
        raise BadInput(f"no notebooks (*.ipynb) in {folder}; pass the folder that holds the course notebooks")
    start = time.time()
    for path in tqdm(books, desc="notebooks"):
        t0 = time.time()
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
        nbformat.write(nb, path)
        print(f"executed {path} in {time.time() - t0:.0f} s")
    print(f"course: {len(books)} notebooks in {(time.time() - start) / 60:.1f} min")


def main() -> None:
    run_cli(dispatch)  # bad input: one line, no traceback, exit status 2


# command -> (module of dpt.experiments, its entry point); each takes the rest of the command line
COMMANDS = {"base2novel": ("base2novel", "main"), "ablate": ("ablation", "main"), "transfer": ("transfer", "transfer_main"),
            "shots": ("transfer", "shots_main"), "tune": ("tune", "main"), "compare": ("compare", "main"),
            "colab": ("colab", "main")}


def dispatch() -> None:
    import importlib
    cmd, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("help", [])
    if cmd in COMMANDS:
        module, entry = COMMANDS[cmd]
        getattr(importlib.import_module(f".{module}", __package__), entry)(rest)
    elif cmd == "info":
        info()
    elif cmd == "course":
        course(rest)
    else:
        print(__doc__)
        sys.exit(0 if cmd in ("help", "-h", "--help") else 2)
