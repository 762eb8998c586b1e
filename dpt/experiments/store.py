"""The results store: one JSON file of result rows, each row carrying its run identity.

Why one file and not a folder of records or SQLite: the committed results must be readable and
diffable on GitHub, and the notebooks read them as they are. What makes it safe is how rows are
added: under an exclusive lock on a lock file of its own (in the temporary folder, `dpt.files.locked`), the writer re-reads the file,
adds its row and atomically replaces the file. So two processes writing at once keep every row, a
crash leaves the old file or the new one, never half of one, and a row is only ever replaced by
a row with the same identity (the same run, the same numbers). The Ray engine's workers return rows
to the driver, which is the only writer.

Format: {"format": "dpt-results", "version": 1, "rows": [row, ...]}; a base-to-novel row is
{label, method, dataset, seed, shots, split, base, novel, hm, run_id, identity, provenance}; a transfer
(or few-shot) row has source, target and accuracy instead of dataset, base, novel and hm.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..errors import DptError
from ..files import check_target, locked, read_only, remove_stale_temps_in
from .writers import json_format, write_json_atomic


class UnusableStore(DptError, ValueError):
    """A results file that is not one, or that cannot be written."""

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
    for i, row in enumerate(doc["rows"]):
        missing = [k for k in ROW_KEYS if not isinstance(row, dict) or k not in row]
        if missing or not isinstance(row["identity"], dict):
            raise UnusableStore(f"--out {path}: row {i} is malformed (no {', '.join(missing) or 'identity'}); restore "
                                "the file from git or choose another path, dpt never drops a row it did not write")
        if problem := _malformed_values(row):
            raise UnusableStore(f"{path}: row {i} ({row['label']}, seed {row['seed']}) {problem}; restore the file "
                                "from git or rerun that run into another file")
    return doc["rows"]


def _malformed_values(row: dict) -> str | None:
    """What is wrong with a row's numbers or per-image records, if anything (None: nothing)."""
    for k in ("base", "novel", "hm", "accuracy"):
        v = row.get(k)
        if k in row and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            return f"has {k}={v!r}, not a number"
    correct = row.get("correct")
    if correct is None:
        return None
    records = [correct] if isinstance(correct, dict) and "bits" in correct else (
        list(correct.values()) if isinstance(correct, dict) else [correct])
    for rec in records:
        try:
            ok = isinstance(rec["n"], int) and 0 <= rec["n"] <= 8 * len(bytes.fromhex(rec["bits"]))
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            return "has corrupt per-image records ('correct')"
    return None


def _is_results_file(path: Path) -> bool:
    _read(path)  # says exactly what is wrong with a file that is not one
    return True


ROW_KEYS = ("label", "method", "seed", "split", "run_id", "identity", "provenance")


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
        self.path = check_target(path, "results file", _is_results_file)  # an empty path, a folder: refused
        _read(self.path)
        try:
            folder = (self.path.resolve() if self.path.is_symlink() else self.path).parent
            existing = next(p for p in (folder, *folder.parents) if p.exists())  # created when the first row is added
            if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK) or read_only(existing):
                raise PermissionError(13, f"{existing} is not a writable folder")
            if self.path.exists() and not os.access(self.path, os.W_OK):
                raise PermissionError(13, "file is read-only")
            remove_stale_temps_in(folder)
        except OSError as e:
            raise UnusableStore(f"cannot write results to {self.path} ({e.strerror or e}); choose a writable "
                                "--out") from e

    def rows(self) -> list[dict]:
        return _read(self.path)

    def check_backbone(self, backbone: str, weights: str) -> None:
        """Refuse (before any work) to add rows of `backbone` with these weights to a file that holds another's."""
        other = sorted({(r["identity"]["backbone"], r["identity"]["weights"]) for r in self.rows()} - {(backbone, weights)})
        if other:
            found = ", ".join(f"{b} (weights {w})" for b, w in other[:3])
            raise UnusableStore(f"{self.path} holds rows of {found}, not of {backbone} (weights {weights}): give this "
                                "run its own --out (each profile has its own default under results/), or pass "
                                "--mix-backbones to keep both in one file on purpose")

    def add(self, row: dict) -> None:
        """Add a row; a stored row is replaced only by one with the same label and identity."""
        with locked(self.path):
            rows = [r for r in _read(self.path) if (r["label"], r["run_id"]) != (row["label"], row["run_id"])]
            rows.append(row)
            rows.sort(key=sort_key)
            write_json_atomic(self.path, {"format": FORMAT, "version": VERSION, "rows": rows}, kind="results file",
                              own=json_format(FORMAT))
