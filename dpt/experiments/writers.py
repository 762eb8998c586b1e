"""The lab's writers, over the library's guard (dpt.files: `check_target`, then a temporary file and os.replace):
results and tuning files recognised by their format, folders probed before a grid writes into them, the
benchmarks' records, figures and notebooks."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import BadInput, Unwritable
from ..files import read_only, remove_stale_temps_in, replace_atomically, writer_tag


def write_json_atomic(path: Path, doc: dict, *, kind: str, own, force: bool = False) -> None:
    """JSON (indent 1, a final newline) through a temporary file and os.replace; a crash leaves no stray file."""
    replace_atomically(Path(path), lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=1) + "\n"), kind, own,
                        force)


def shown(path) -> str:
    """A path relative to the working directory (or the project), so stored outputs hold no machine's folders."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    rel = os.path.relpath(path, Path.cwd())
    if not rel.startswith(os.pardir + os.sep + os.pardir):
        return rel
    root = Path(__file__).resolve().parents[2]
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def json_format(fmt: str):
    """`own` for a JSON file whose object says {"format": fmt} (results, tuning choices, a search's result)."""
    def own(path: Path) -> bool:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(doc, dict) and doc.get("format") == fmt
    return own


def writable_folder(folder, what: str, depth: int = 0) -> Path:
    """`folder` (created if missing) after a probe write, or one line saying it cannot be written; what writers
    killed mid-write left in it (depth=1: in its sub-folders too) is removed as it is opened."""
    if folder is None or not os.fspath(folder).strip():
        raise BadInput(f"an empty path was given for the {what}; give a folder")
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"{folder} is a file; give a folder for the {what}")
    try:
        if folder.exists() and read_only(folder):
            raise PermissionError(13, f"read-only, mode {folder.stat().st_mode & 0o777:o}")
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".dpt-probe.{writer_tag()}.", suffix=".tmp")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise Unwritable(f"cannot write into {folder}, the {what} ({e.strerror or e}); choose a writable folder") from None
    remove_stale_temps_in(folder, depth)
    return folder


def write_record(path: Path, doc: dict, writer: str) -> None:
    """A script's JSON record (a benchmark's measurements), {"writer": writer, ...}: it replaces only a record of
    the same writer, or one of the same shape from before records named their writer."""
    doc = {"writer": writer, **doc}

    def own(p: Path) -> bool:
        try:
            old = json.loads(p.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(old, dict) and (old.get("writer") == writer or
                                          ("writer" not in old and set(old) == set(doc) - {"writer"}))
    write_json_atomic(path, doc, kind=f"record of {writer}", own=own)


def save_figure(fig, path: Path, **savefig) -> None:
    """A matplotlib figure as a PNG (a figure of the same name is this writer's own)."""
    replace_atomically(Path(path), lambda tmp: fig.savefig(tmp, format="png", **savefig), "figure", _by_matplotlib)


def _by_matplotlib(path: Path) -> bool:
    """A PNG that matplotlib wrote (its 'Software' text chunk): a figure, not somebody's picture."""
    try:
        from PIL import Image
        with Image.open(path) as im:
            return im.format == "PNG" and str(im.info.get("Software", "")).startswith("Matplotlib")
    except Exception:
        return False


def write_notebook(nb, path: Path) -> None:
    """A notebook written back in place (the course's and colab's own notebooks, read just before)."""
    import nbformat

    def own(p: Path) -> bool:
        try:
            nbformat.read(p, as_version=4)
            return True
        except Exception:
            return False
    replace_atomically(Path(path), lambda tmp: nbformat.write(nb, tmp), "notebook", own)


def read_notebooks(folder) -> list:
    """(path, notebook) of every *.ipynb in `folder`, all read before any is run: a corrupt one stops the course
    with its name."""
    import nbformat
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInput(f"notebook folder {folder} does not exist; run from the repository root or pass the "
                       "folder that holds the course notebooks")
    books = sorted(folder.glob("*.ipynb"))
    if not books:
        raise BadInput(f"no notebooks (*.ipynb) in {folder}; pass the folder that holds the course notebooks")
    out = []
    for path in books:
        try:
            out.append((path, nbformat.read(path, as_version=4)))
        except Exception as e:  # nbformat: NotJSONError, validation errors, unreadable file
            raise BadInput(f"{path} is not a readable notebook ({type(e).__name__}); restore it (git checkout "
                           f"{path}) and run again") from None
    return out
