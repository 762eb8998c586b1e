"""`python -m dpt.X` for a module that is no command would run nothing and exit 0: stop it in one line."""
from __future__ import annotations

import sys

MOVED = {"dpt.pretrain": "pretrain"}  # an old command's module -> its command now


def module_run_as_script() -> str | None:
    """The module of `python [options] -m MODULE ...` while Python imports its packages (sys.argv[0] is "-m"
    until it is found), else None."""
    argv, orig = sys.argv, getattr(sys, "orig_argv", [])
    if argv[:1] != ["-m"] or len(orig) < len(argv):
        return None
    arg = orig[len(orig) - len(argv)]  # -m's value: its own argument, or the rest of a cluster (-mX, -BmX)
    return arg.partition("m")[2] if arg.startswith("-") else arg


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
