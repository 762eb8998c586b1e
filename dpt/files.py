"""Writing files so that a reader sees the old file or the new one, never half of one: a temporary file in
the same folder, then `os.replace`. Used by the feature cache, the trainer's checkpoints and the results."""
from __future__ import annotations

import getpass
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout


def _replace_atomically(path: Path, write) -> None:
    """Write through a temporary file beside the target, then os.replace. A symbolic link is written through (the
    file it points at is replaced, the link stays), and an existing file keeps its permissions."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove the temporary files that writers of `path` left when they were killed mid-write (a SIGKILL runs no
    cleanup): those named for a process that no longer exists. Returns what was removed."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    removed = []
    for tmp in target.parent.glob(f".{target.name}.*.tmp") if target.parent.is_dir() else ():
        pid = tmp.name[len(target.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would end the process there: never take a temp file for a dead writer's
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_save(obj, path: Path) -> None:
    """torch.save to a temp file in the same folder, then rename: readers see all or nothing."""
    import torch
    _replace_atomically(Path(path), lambda f: torch.save(obj, f))


def atomic_write_text(path: Path, text: str) -> None:
    """Text through a temporary file and os.replace: readers see the old file or the new one."""
    _replace_atomically(Path(path), lambda tmp: Path(tmp).write_text(text))


def write_json_atomic(path: Path, doc: dict) -> None:
    """JSON (indent 1, a final newline) through a temporary file and os.replace; a crash leaves no stray file."""
    _replace_atomically(Path(path), lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=1) + "\n"))


def lock_path(path: Path) -> Path:
    """Where the lock of `path` lives: a folder of lock files of this user's (never beside the locked file, so a
    refused or killed command leaves nothing in results/ or the cache)."""
    folder = Path(os.environ.get("DPT_LOCKS") or Path(tempfile.gettempdir()) / f"dpt-locks-{_user()}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / (hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:24] + ".lock")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


@contextmanager
def locked(path: Path):
    """An exclusive lock on `path`, for a read-modify-write of it by several processes (filelock: fcntl on Unix,
    msvcrt on Windows; released when the holder dies)."""
    with FileLock(lock_path(path)):
        yield


def shown(path) -> str:
    """A path as output shows it: relative to the working directory (or to the project, from elsewhere in it), so
    that stored notebook outputs and logs hold no machine's folders."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    rel = os.path.relpath(path, Path.cwd())
    if not rel.startswith(os.pardir + os.sep + os.pardir):
        return rel
    root = Path(__file__).resolve().parents[1]
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


class Busy(OSError):
    """Another process holds the lock."""


@contextmanager
def exclusive(path: Path):
    """Hold `path`'s lock for the block, or raise Busy at once if another process holds it (a run's folder: two
    processes training the same run would interleave its log)."""
    lock = FileLock(lock_path(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise Busy(f"{path} is in use by another process") from None
    try:
        yield
    finally:
        lock.release()
