"""Colab: the repository address in one place, and the badge and install cell every notebook carries.

    python -m dpt colab          # rewrite each notebook's badge and install cell from REPOSITORY

The install cell is the first code cell of every notebook. Where `dpt` imports (a local clone, CI, nbval)
it does nothing; in a fresh Colab runtime it clones the repository (with the shipped miniature checkpoint
and the committed results) and installs it, keeping Colab's own torch. Its REAL_CLIP switch (off by default)
puts the notebook on real CLIP: `use_real_clip` downloads the chosen datasets with torchvision and sets the
real profile's variables, which the notebook's `setup()` reads. Change REPOSITORY when the project
moves, run the command, and every badge and install cell follows (`tests/test_colab.py` checks they agree).
"""
from __future__ import annotations

from pathlib import Path

from .command_line import Parser

REPOSITORY = "https://github.com/dpt-project/dpt"  # the project's public address (a placeholder until it has one)
BRANCH = "main"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
INSTALL_MARKER = "# Colab: install dpt if it is not importable (a no-op wherever dpt is installed)"


def badge(notebook: str) -> str:
    """The 'Open In Colab' markdown badge of notebooks/<notebook>."""
    path = REPOSITORY.removeprefix("https://github.com/")
    return f"[![Open In Colab]({BADGE_IMAGE})](https://colab.research.google.com/github/{path}/blob/{BRANCH}/notebooks/{notebook})"


def install_cell() -> str:
    return f'''{INSTALL_MARKER}
# Real CLIP instead of the miniature (Colab with a GPU): tick REAL_CLIP, choose datasets and epochs, run this cell.
REAL_CLIP = False  #@param {{type:"boolean"}}
DATASETS = "DTD OxfordPets"  #@param {{type:"string"}}
EPOCHS = 5  #@param {{type:"integer"}}
try:
    import dpt  # noqa: F401
except ImportError:
    import os, subprocess, sys
    subprocess.run(["git", "clone", "-q", "--depth", "1", "-b", "{BRANCH}", "{REPOSITORY}", "/content/dpt"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/dpt"], check=True)
    sys.path.insert(0, "/content/dpt")
    os.chdir("/content/dpt/notebooks")
if REAL_CLIP:
    from dpt.experiments import course
    course.use_real_clip(DATASETS, EPOCHS)'''


COLAB_DATA = "/content/data"


def use_real_clip(datasets: str = "DTD OxfordPets", epochs: int = 5, data_root: str = COLAB_DATA) -> bool:
    """Put this session's notebooks on real CLIP: download `datasets` with torchvision into `data_root` (once)
    and set DPT_PROFILE=real, DPT_DATA, DPT_DATASETS and DPT_EPOCHS (0: the recipes' full schedules). open_clip
    fetches ViT-B-16's 'openai' weights when the notebook first loads them. Without a GPU it says so and leaves
    the notebook on the miniature. Returns whether real CLIP is on."""
    import os

    import torch

    from .datasets import load_datasets, resolve_dataset_names
    from ..errors import BadInput
    if not torch.cuda.is_available():
        print("REAL_CLIP needs a GPU runtime (Runtime > Change runtime type > T4 GPU, then run this cell again); "
              "this notebook stays on the offline miniature.")
        return False
    if not isinstance(epochs, int) or epochs < 0:
        raise BadInput(f"EPOCHS must be a whole number (0: the recipes' full schedules), got {epochs!r}")
    names = resolve_dataset_names(str(datasets).replace(",", " ").split())
    os.makedirs(data_root, exist_ok=True)
    found = load_datasets(names, root=data_root, download=True)  # what torchvision cannot fetch is named first
    os.environ.update(DPT_PROFILE="real", DPT_DATA=data_root, DPT_DATASETS=" ".join(found))
    if epochs:
        os.environ["DPT_EPOCHS"] = str(epochs)
    else:
        os.environ.pop("DPT_EPOCHS", None)
    budget = f"{epochs} epochs per method" if epochs else "every method's full recipe"
    print(f"real CLIP: ViT-B-16 with open_clip's 'openai' weights (fetched on first use), {', '.join(found)} in "
          f"{data_root} ({', '.join(f'{n} {ds.num_classes} classes' for n, ds in found.items())}), {budget}, on "
          f"{torch.cuda.get_device_name(0)}")
    return True


def apply(path: str | Path) -> bool:
    """Give notebook `path` the current badge (in its first cell) and install cell (its first code cell).
    Returns whether anything changed."""
    import re

    import nbformat
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    first = nb.cells[0]
    pattern = r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)"
    if re.search(pattern, first.source):
        first.source = re.sub(pattern, badge(Path(path).name).replace("\\", "\\\\"), first.source)
    else:
        first.source = first.source.replace("\n", f"\n\n{badge(Path(path).name)}\n", 1)
    old_hint = "*On Colab, run this first:*"  # the hand-copied install line this cell replaces
    first.source = "\n".join(l for l in first.source.split("\n") if not l.startswith(old_hint)).rstrip()
    code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    if nb.cells[code].source.startswith(INSTALL_MARKER):
        nb.cells[code].source = install_cell()
    else:
        nb.cells.insert(code, nbformat.v4.new_code_cell(install_cell()))
    nb.cells[code].metadata["tags"] = ["colab-install"]
    changed = nbformat.writes(nb) != before
    if changed:
        from .writers import write_notebook
        write_notebook(nb, path)
    return changed


def parser():
    ap = Parser(prog="python -m dpt colab", description="rewrite every notebook's Colab badge and "
                "install cell from REPOSITORY")
    ap.add_argument("folder", nargs="?", default="notebooks", help="the folder of the course notebooks")
    return ap


def main(argv=None) -> None:
    from .writers import read_notebooks
    args = parser().parse_args(argv)
    for path, _ in read_notebooks(args.folder):  # all readable before any is rewritten
        print(f"{path}: {'updated' if apply(path) else 'up to date'}")
