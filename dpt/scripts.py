"""`python -m dpt.X` for a module that is no command would run nothing and exit 0: stop it in one line."""
from __future__ import annotations

import sys

MOVED = {"dpt.pretrain": "pretrain"}  # an old command's module -> its command now


def module_run_as_script() -> str | None:
    """The module of `python [options] -m MODULE ...` (combined short flags too), else None."""
    args = iter(getattr(sys, "orig_argv", [])[1:])
    for arg in args:
        if not arg.startswith("-") or arg == "-":
            return None  # a script, or the program on stdin
        if arg == "--check-hash-based-pycs":  # the one long option that takes a value
            next(args, None)
        for i, flag in enumerate(arg[1:] if not arg.startswith("--") else "", 1):
            if flag in "cmWX":  # the options that take a value: the rest of the cluster, or the next argument
                value = arg[i + 1:] or next(args, None)
                if flag in "cm":
                    return value if flag == "m" else None
                break
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
