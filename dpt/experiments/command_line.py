"""How a command ends on bad input: one line on stderr and exit status 2 (the library raises `dpt.errors.DptError`
in its own words; the commands add their flags where they re-raise)."""
from __future__ import annotations

import argparse
import sys

from ..errors import BadInput, DptError


def cache_from_environment() -> None:
    """The feature cache folder from $DPT_CACHE (the library reads no environment: the commands and the course
    tell it), or the library's default (~/.cache/dpt) where it is unset."""
    import os

    from ..features import set_cache_dir
    value = os.environ.get("DPT_CACHE")
    if value is not None and not value.strip():
        raise BadInput("DPT_CACHE is set to an empty path; set it to a folder for the feature cache, or unset it "
                       "(default: ~/.cache/dpt)")
    set_cache_dir(value or None)


class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line ends like every other bad input: one line, exit status 2; and an option
    is spelled out (no abbreviations), so the command a results file records is the one the Makefile names."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise BadInput(f"{self.prog}: {message} (see {self.prog} --help)")


# Flags that change only what is shown while a command runs, never a result: a record's command leaves them out,
# so the same run from a terminal or from a script (benchmarks/reuse_check.py adds --no-progress) records one line.
DISPLAY_ONLY = ("--no-progress",)


def recorded_command(name: str, argv=None) -> str:
    """The command line a results file records for `python -m dpt NAME` (argv: its arguments, default sys.argv's)."""
    words = argv if argv is not None else sys.argv[2:]
    return " ".join(["python -m dpt", name, *(w for w in words if w not in DISPLAY_ONLY)])


# What a library error names (an argument, a function) -> the option of the commands that sets it
FLAGS = (("pretrained=PATH", "--pretrained PATH"), ("save_prompts(method, path)", "--save-prompts DIR"),
         ("export_head(path)", "--export-head FILE"), ("warmup_epochs=0", "--train-set warmup_epochs=0"),
         ("epochs=", "--epochs N"), ("out_dir", "--runs-dir DIR"), ("runs_dir", "--runs-dir DIR"),
         ("save_prompts=DIR", "--save-prompts DIR"), ("source=NAME", "--source NAME"),
         ("class_specific=False", "--set class_specific=false"), ("resume=False", "drop --resume"),
         ("download=True", "--download"), ("root=DIR", "--data-root DIR"), ("cache_dir", "--cache-dir DIR"),
         ("backbone 'miniclip'", "--backbone miniclip"), ("'miniature' profile", "--profile miniature"),
         ("device='cpu'", "--device cpu"), ("force=True", "--force"))


def for_the_command_line(message: str, options=None) -> str:
    """A library error's message, with the command-line options that set what it names (only those among
    `options`, the running command's own, where they are known)."""
    def offered(flag):
        option = next(w for w in flag.split() if w.startswith("--"))
        return options is None or option in options
    flags = list(dict.fromkeys(flag for words, flag in FLAGS if words in message and flag not in message
                               and offered(flag)))
    return f"{message} (on the command line: {', '.join(flags)})" if flags else message


def run_cli(main, *args, options=None) -> None:
    """Run a command-line entry point: bad input ends as one line on stderr and exit status 2. options: a callable
    giving the running command's option strings, so that an error names only options it has."""
    try:
        cache_from_environment()
        main(*args)
    except DptError as e:
        print(f"error: {for_the_command_line(str(e), options() if options else None)}", file=sys.stderr)
        sys.exit(2)
