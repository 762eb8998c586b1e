"""A module of dpt run as a script (`python -m dpt.pretrain`, the old pretraining command) would run nothing and
exit 0; the package stops it as it is imported, in one line that says where its command is now (dpt/__init__.py
for the library's modules, dpt/experiments/__init__.py for the commands')."""
from __future__ import annotations

import sys

MOVED = {"dpt.pretrain": "pretrain"}  # an old command's module -> its command now (the library stays there)


def module_run_as_script() -> str | None:
    """The module of `python [options] -m MODULE ...` (None for any other way of starting Python)."""
    args = iter(getattr(sys, "orig_argv", [])[1:])
    for arg in args:
        if arg == "-m":
            return next(args, None)
        if arg.startswith("-m"):
            return arg[2:]
        if arg in ("-W", "-X", "--check-hash-based-pycs"):  # options that take a value
            next(args, None)
        elif not arg.startswith("-") or arg == "-c":
            return None
    return None


def refuse(module: str, command: str | None) -> None:
    """End `python -m MODULE` with one line and exit status 2: its command, or that it is a part of the library."""
    where = f"its command is python -m dpt {command}" if command else "it is a module of dpt, not a command"
    print(f"error: python -m {module} runs nothing: {where} (python -m dpt help lists the commands)", file=sys.stderr)
    raise SystemExit(2)


def stop_library_scripts() -> None:
    """Refuse `python -m dpt.X` for a module X of the library (the experiment layer refuses its own)."""
    module = module_run_as_script()
    if module and module.startswith("dpt.") and module != "dpt.__main__" and not module.startswith("dpt.experiments."):
        refuse(module, MOVED.get(module))
