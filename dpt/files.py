"""Every file dpt writes goes through this module: a temporary file in the same folder, then `os.replace`, so a
reader sees the old file or the new one, never half of one; and first `check_target`, the one guard of every
writer: a command writes only files it creates, or files of its own kind (`own`), never a folder, an empty path
or somebody else's file unless asked (`force`). tests/test_writers.py checks that no module writes otherwise."""
from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import BadInput, Unwritable


def check_target(path, kind: str, own=None, force: bool = False, offer_force: bool = False) -> Path:
    """The guard every writer calls before it writes `path` (as a `kind`: "prompt file", "results file", ...).
    Refused, in one line: an empty path, a folder (or a name ending in a separator), and an existing file that
    `own(path)` does not recognise as this writer's kind, unless `force` (the message offers it where the caller
    does: `offer_force`). Returns the path, ~ expanded."""
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
    """Whether `path` has no write bit at all (0444, 0555): its owner protected it. Root may write it all the
    same (as in Colab and many containers), so the writers honour the bits themselves."""
    return not (Path(path).stat().st_mode & 0o222)


def ours_by_path(path: Path) -> bool:
    """`own` for a file whose path is its identity (a run folder's checkpoint and log, the feature cache, a
    pretraining's partial state): whatever is there was written by the same writer for the same thing."""
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
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".dpt-probe.{_writer_tag()}.", suffix=".tmp")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise Unwritable(f"cannot write into {folder}, the {what} ({e.strerror or e}); choose a writable folder") from None
    remove_stale_temps_in(folder, depth)
    return folder


def _replace_atomically(path: Path, write, kind: str, own, force: bool = False) -> None:
    """Write through a temporary file beside the target, then os.replace (after `check_target`). A symbolic link is
    written through (the file it points at is replaced, the link stays), and an existing file keeps its
    permissions; a folder that cannot be written is one line."""
    path = check_target(path, kind, own, force)
    target = path.resolve() if path.is_symlink() else path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps_in(target.parent)  # what writers killed mid-write left in this folder
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{_writer_tag()}.", suffix=".tmp")
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


def _writer_tag() -> str:
    """What a temporary file says of its writer: its process and this machine (`<pid>@<host hash>`), so that a
    shared folder's temps of a writer on another machine are never taken for a dead writer's."""
    return f"{os.getpid()}@{hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]}"


def remove_stale_temps_in(folder: Path, depth: int = 0) -> list[Path]:
    """Remove the temporary files (`.<name>.<pid>@<host>.<random>.tmp`) that dpt's writers into `folder` left when
    they were killed mid-write (a SIGKILL runs no cleanup): those of this machine named for a process that no
    longer exists, never a live writer's, another machine's or a file of another kind. depth=1: in its sub-folders
    too (a runs folder's run folders). Says so in one line when it removed any (and nothing otherwise); a file it
    cannot remove is left. Returns what was removed."""
    folder, host = Path(folder), _writer_tag().split("@")[1]
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
        print(f"note: removed {len(removed)} temporary file(s) that a writer killed mid-write left in "
              f"{shown(folder)} ({', '.join(p.name for p in removed[:3])}{', ...' if len(removed) > 3 else ''})")
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
    _replace_atomically(Path(path), lambda f: torch.save(obj, f), kind, own, force)


def atomic_write_text(path: Path, text: str, *, kind: str, own, force: bool = False) -> None:
    """Text through a temporary file and os.replace: readers see the old file or the new one."""
    _replace_atomically(Path(path), lambda tmp: Path(tmp).write_text(text), kind, own, force)


def write_json_atomic(path: Path, doc: dict, *, kind: str, own, force: bool = False) -> None:
    """JSON (indent 1, a final newline) through a temporary file and os.replace; a crash leaves no stray file."""
    _replace_atomically(Path(path), lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=1) + "\n"), kind, own,
                        force)


def append_lines(path: Path, lines, *, kind: str, own) -> None:
    """Lines added at the end of a file (a run's log, epoch by epoch)."""
    path = check_target(path, kind, own)
    try:
        with open(path, "a") as f:
            f.writelines(lines)
    except OSError as e:
        raise Unwritable(f"cannot write the {kind} {path} ({e.strerror or e}); choose a writable folder") from None


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
    _replace_atomically(Path(path), lambda tmp: fig.savefig(tmp, format="png", **savefig), "figure", _by_matplotlib)


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
    _replace_atomically(Path(path), lambda tmp: nbformat.write(nb, tmp), "notebook", own)


def lock_path(path: Path) -> Path:
    """Where the lock of `path` lives: a folder of lock files of this user's (never beside the locked file, so a
    refused or killed command leaves nothing in results/ or the cache)."""
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
