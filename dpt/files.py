"""Every file dpt writes goes through here: a temporary file then `os.replace` (never half a file), after
`check_target`, which refuses folders, empty paths and other writers' files unless forced."""
from __future__ import annotations

import getpass
import hashlib
import os
import socket
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import BadInput, DptError, Unwritable


def check_target(path, kind: str, own=None, force: bool = False, offer_force: bool = False) -> Path:
    """The guard every writer calls first: an empty path, a folder or a file `own` does not recognise is refused
    unless `force`. Returns the path, ~ expanded."""
    text = "" if path is None else os.fspath(path)
    if not text.strip():
        raise BadInput(f"an empty path was given for the {kind}; give a file name")
    target = Path(text).expanduser()
    if text.endswith(("/", os.sep)) or target.is_dir():
        raise BadInput(f"{text} is a folder; give a file name for the {kind} (e.g. {target / 'out'})")
    if target.exists() and not force and not (own is not None and own(target)):
        raise BadInput(f"{text} exists and is not a {kind}: it is not replaced; choose another name"
                       + (", or force=True to replace it" if offer_force else ""))
    if target.exists() and not force and read_only(target):
        raise Unwritable(f"{text} is read-only (mode {target.stat().st_mode & 0o777:o}): it is not replaced; make it "
                         f"writable (chmod u+w {text}) or choose another name"
                         + (", or force=True to replace it" if offer_force else ""))
    return target


def read_only(path: Path) -> bool:
    """No write bit at all: root could write it anyway, so the writers honour the bits themselves."""
    return not (Path(path).stat().st_mode & 0o222)


def ours_by_path(path: Path) -> bool:
    """`own` for a file whose path is its identity (checkpoint, log, feature cache)."""
    return True


def torch_format(fmt: str):
    """`own` for a torch file whose dict says {"format": fmt} (a prompt file, a head)."""
    def own(path: Path) -> bool:
        import torch
        try:
            doc = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            return False
        return isinstance(doc, dict) and doc.get("format") == fmt
    return own


def replace_atomically(path: Path, write, kind: str, own, force: bool = False) -> None:
    """`write(tmp)` beside the target, then os.replace; symlinks are written through, permissions kept."""
    path = check_target(path, kind, own, force)
    target = path.resolve() if path.is_symlink() else path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps_in(target.parent)  # what writers killed mid-write left in this folder
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{writer_tag()}.", suffix=".tmp")
    except OSError as e:
        raise Unwritable(f"cannot write the {kind} {path} ({e.strerror or e}); choose a writable folder") from None
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


def writer_tag() -> str:
    """`<pid>@<host hash>`: another machine's temps are never taken for a dead writer's."""
    return f"{os.getpid()}@{hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]}"


def remove_stale_temps_in(folder: Path, depth: int = 0) -> list[Path]:
    """Remove temporary files left by this machine's writers that were killed mid-write (depth=1: in sub-folders
    too), saying so in one line. Returns what was removed."""
    folder, host = Path(folder), writer_tag().split("@")[1]
    folders = [folder, *(sorted(p for p in folder.iterdir() if p.is_dir()) if depth and folder.is_dir() else ())]
    removed = []
    for f in folders:
        for tmp in f.glob(".*.tmp") if f.is_dir() else ():
            pid, _, where = tmp.name[1:].rsplit(".", 3)[1].partition("@") if tmp.name.count(".") >= 4 else ("", "", "")
            if where == host and pid.isdigit() and not _alive(int(pid)):
                try:
                    tmp.unlink(missing_ok=True)
                    removed.append(tmp)
                except OSError:  # somebody else's folder rules (a sticky bit): not ours to force
                    pass
    if removed:
        warnings.warn(f"note: removed {len(removed)} temporary file(s) that a writer killed mid-write left in "
                      f"{folder} ({', '.join(p.name for p in removed[:3])}{', ...' if len(removed) > 3 else ''})",
                      stacklevel=2)
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


def atomic_save(obj, path: Path, *, kind: str, own, force: bool = False) -> None:
    """torch.save to a temp file in the same folder, then rename: readers see all or nothing."""
    import torch
    replace_atomically(Path(path), lambda f: torch.save(obj, f), kind, own, force)


def atomic_write_text(path: Path, text: str, *, kind: str, own, force: bool = False) -> None:
    """Text through a temporary file and os.replace: readers see the old file or the new one."""
    replace_atomically(Path(path), lambda tmp: Path(tmp).write_text(text), kind, own, force)


def append_lines(path: Path, lines, *, kind: str, own) -> None:
    """Lines added at the end of a file (a run's log, epoch by epoch)."""
    path = check_target(path, kind, own)
    try:
        with open(path, "a") as f:
            f.writelines(lines)
    except OSError as e:
        raise Unwritable(f"cannot write the {kind} {path} ({e.strerror or e}); choose a writable folder") from None


def lock_path(path: Path) -> Path:
    """Locks live in a per-user temp folder, so a killed command leaves nothing beside the locked file."""
    folder = Path(tempfile.gettempdir()) / f"dpt-locks-{_user()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / (hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:24] + ".lock")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


@contextmanager
def locked(path: Path):
    """An exclusive lock on `path` for a read-modify-write by several processes."""
    with FileLock(lock_path(path)):
        yield


class Busy(DptError, OSError):
    """Another process holds the lock."""


@contextmanager
def exclusive(path: Path, busy: str = ""):
    """Hold `path`'s lock, or raise Busy (saying `busy`) at once: two processes training one run would interleave
    its log."""
    lock = FileLock(lock_path(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise Busy(busy or f"{path} is in use by another process") from None
    try:
        yield
    finally:
        lock.release()
