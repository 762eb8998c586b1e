"""The results store: one JSON file of result rows, each row carrying its run identity.

Why one file and not a folder of records or SQLite: the committed results must be readable and
diffable on GitHub, and the notebooks read them as they are. What makes it safe is how rows are
added: under an exclusive lock on a sidecar file (`.<name>.lock`), the writer re-reads the file,
adds its row and atomically replaces the file. So two processes writing at once keep every row, a
crash leaves the old file or the new one, never half of one, and a row is only ever replaced by
a row with the same identity (the same run, the same numbers). The Ray engine's workers return rows
to the driver, which is the only writer.

Format: {"format": "dpt-results", "version": 1, "rows": [row, ...]}; a base-to-novel row is
{label, method, dataset, seed, shots, split, base, novel, hm, run_id, identity, provenance}; a transfer
(or few-shot) row has source, target and accuracy instead of dataset, base, novel and hm.
"""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..errors import UnusableStore
from ..files import write_json_atomic

FORMAT, VERSION = "dpt-results", 1


def _read(path: Path) -> list[dict]:
    """The rows of a results file (an absent file has none); refuses anything that is not one."""
    if path.is_dir():
        raise UnusableStore(f"--out {path} is a directory; give a file name such as {path / 'results.json'}")
    if not path.exists():
        return []
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UnusableStore(f"--out {path} is not a dpt results file ({type(e).__name__}); choose another path, "
                            "dpt never overwrites a file it did not write") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("rows"), list):
        hint = (" (it was written by an older dpt, before rows carried run identities: move it aside and rerun)"
                if isinstance(doc, dict) and isinstance(doc.get("rows"), list) else "")
        raise UnusableStore(f"--out {path} is not a dpt results file{hint}; choose another path, dpt never "
                            "overwrites a file it did not write")
    if doc.get("version") != VERSION:
        raise UnusableStore(f"--out {path} has results format version {doc.get('version')}, this dpt reads "
                            f"version {VERSION}; upgrade dpt or choose another path")
    return doc["rows"]


def read_rows(path: str | Path) -> list[dict]:
    """The rows of a results file, for reading only (no lock, no check that it can be written)."""
    return _read(Path(path))


def sort_key(row: dict) -> tuple:
    """Rows sorted by label, dataset (transfer: source, target), shots, seed."""
    return (row["label"], row.get("dataset", row.get("source")), row.get("target", ""), row.get("shots") or 0,
            row["seed"], row["run_id"])


class ResultsStore:
    """Rows of one results file. Opening it checks (before any work) that it can be read and written."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock_path = lock_path(self.path)
        _read(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.lock_path, "a"):
                pass
            probe = tempfile.NamedTemporaryFile(dir=self.path.parent, prefix=f".{self.path.name}.", delete=True)
            probe.close()
            if self.path.exists() and not os.access(self.path, os.W_OK):
                raise PermissionError(13, "file is read-only")
        except OSError as e:
            raise UnusableStore(f"cannot write results to {self.path} ({e.strerror or e}); choose a writable "
                                "--out") from e

    def rows(self) -> list[dict]:
        return _read(self.path)

    def add(self, row: dict) -> None:
        """Add a row; a stored row is replaced only by one with the same label and identity."""
        with locked(self.path):
            rows = [r for r in _read(self.path) if (r["label"], r["run_id"]) != (row["label"], row["run_id"])]
            rows.append(row)
            rows.sort(key=sort_key)
            write_json_atomic(self.path, {"format": FORMAT, "version": VERSION, "rows": rows})


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


@contextmanager
def locked(path: Path):
    """An exclusive lock on `path`'s sidecar file, for a read-modify-write of `path` by several processes."""
    with open(lock_path(path), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
