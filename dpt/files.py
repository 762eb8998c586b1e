"""Writing files so that a reader sees the old file or the new one, never half of one: a temporary file in
the same folder, then `os.replace`. Used by the feature cache, the trainer's checkpoints and the results."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def _replace_atomically(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_save(obj, path: Path) -> None:
    """torch.save to a temp file in the same folder, then rename: readers see all or nothing."""
    import torch
    _replace_atomically(Path(path), lambda f: torch.save(obj, f))


def write_json_atomic(path: Path, doc: dict) -> None:
    """JSON (indent 1, a final newline) through a temporary file and os.replace; a crash leaves no stray file."""
    _replace_atomically(Path(path), lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=1) + "\n"))
