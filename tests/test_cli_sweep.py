"""Every command, every option: what a user sees. Cases come from the commands' own argument
parsers, so an option added later is swept too. Each invocation runs in-process until it exits, or until it would
start real work (loading a model, executing a notebook, rendering a corpus), which is stopped there.

  --help                        exit 0 and the usage
  an unknown option             exit 2 and one line that names it
  an option without its value   exit 2 and one line that names the option
  a value of the wrong type     exit 2 and one line that names the option (a word for a number, an unknown choice)
  a number out of range (-1)    the command's own one-line refusal, exit 2: reaching real work is a silent accept

Anything else (an exception that is not a dpt error) fails the case: that is a traceback the user would see.
`test_the_sweep_catches_a_silent_accept_and_a_traceback` plants both in a scratch copy of dpt and shows the sweep
fails on each."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dpt.experiments.command_line import run_cli
from dpt.experiments import cli

ROOT = Path(__file__).resolve().parents[1]
# numeric options whose -1 is a value the command honours, each with its reason (none today)
NEGATIVE_OK: dict[tuple[str, str], str] = {}
BASE = {  # a command line each command accepts, that the swept option is added to
    "base2novel": ["--methods", "coop", "--datasets", "mini_toys", "--seeds", "1", "--split", "val"],
    "ablate": ["--variants", "dpt", "--baselines", "coop", "--datasets", "mini_toys", "--seeds", "1"],
    "transfer": ["--source", "mini_colours", "--targets", "mini_colours", "--methods", "coop", "--seeds", "1"],
    "shots": ["--methods", "coop", "--datasets", "mini_toys", "--shots", "2"],
    "tune": ["--methods", "coop", "--datasets", "mini_toys", "--seeds", "1"],
    "compare": ["empty.json"],
    "evaluate": ["--prompts", "p.pt", "--datasets", "mini_toys"],
    "predict": ["--prompts", "p.pt", "img.png"],
    "data": ["--data-root", "data"],
    "recipes": [], "info": [], "course": ["nbs"], "colab": ["nbs"],
    "pretrain": ["--out", "m.pt"],
    "search": ["--plan", "plan.json"],
}


class WouldWork(Exception):
    """Raised where a command would start real work: its input was accepted."""


def stop(*a, **k):
    raise WouldWork


def parsers():
    return {name: cli.parser_of(name) for name in cli.COMMANDS}


def cases():
    """(command, argv, expected): expected is "help", "refused" (exit 2, one line naming `opt`), or "range"."""
    out = []
    for name, ap in parsers().items():
        out.append((name, ["--help"], ("help", None)))
        out.append((name, ["--no-such-option"], ("refused", "--no-such-option")))
        for action in ap._actions:
            if not action.option_strings or "--help" in action.option_strings:
                continue
            opt = max(action.option_strings, key=len)
            if action.nargs == 0:  # a flag given a value
                out.append((name, [f"{opt}=yes"], ("refused", opt)))
                continue
            if action.nargs not in ("*", "?"):
                out.append((name, [opt], ("refused", opt)))  # the value is missing
            if action.choices:
                out.append((name, [opt, "no-such-choice"], ("refused", opt)))
            elif action.type in (int, float):
                out.append((name, [opt, "abc"], ("refused", opt)))
                if (name, opt) not in NEGATIVE_OK:
                    out.append((name, [opt, "-1"], ("range", opt)))
    return out


CASES = cases()


def test_every_command_is_swept():
    assert set(BASE) == set(cli.COMMANDS) and len(CASES) > 150


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from dpt.backbones import load_backbone
    from dpt.data import load_miniature
    from dpt.methods import build_method
    from dpt.experiments.saved import save_prompts
    d = tmp_path_factory.mktemp("sweep")
    (d / "empty.json").write_text(json.dumps({"format": "dpt-results", "version": 1, "rows": []}))
    (d / "nbs").mkdir()
    (d / "data").mkdir()
    (d / "plan.json").write_text(json.dumps({
        "format": "dpt-search-plan", "profile": "miniature", "split": "val", "datasets": ["mini_toys"], "seeds": [1],
        "shots": 2, "method": "dpt", "values_per_knob": 2,
        "stages": [{"stage": 1, "variants": [{"label": "dpt", "method": "dpt", "knob": "mi_weight",
                                              "values": [1.0, 3.0]}]}]}))
    ds = load_miniature("mini_toys", per_class={"train": 1, "val": 1, "test": 1})
    bb = load_backbone("miniclip")  # valid files, so that the options past them are reached and swept
    save_prompts(build_method("coop", bb, ds.classnames, ds.template), d / "p.pt")
    ds.load_image(ds.test[0]).save(d / "img.png")
    return d


def run(command, argv, workdir, monkeypatch, capsys):
    """What the user sees: ("exit", code, stdout, stderr) or ("work",) where real work would start."""
    import nbclient
    from dpt import backbones
    from dpt.experiments import colab, grid, pretrain, saved
    for module, name in ((backbones, "load_backbone"), (grid, "load_backbone"), (saved, "load_backbone"),
                         (pretrain, "render_corpus"), (colab, "apply")):
        monkeypatch.setattr(module, name, stop)
    monkeypatch.setattr(nbclient.NotebookClient, "execute", stop)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("DPT_CACHE", str(workdir / "cache"))
    monkeypatch.setenv("DPT_RESULTS", str(workdir / "results"))
    monkeypatch.setattr(sys, "argv", ["dpt", command, *BASE[command], *argv])
    try:
        run_cli(cli.dispatch)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except WouldWork:
        return ("work",)
    out = capsys.readouterr()
    return ("exit", code, out.out, out.err)


@pytest.mark.parametrize("command, extra, expected", CASES, ids=[f"{c}:{' '.join(a)}" for c, a, _ in CASES])
def test_what_the_user_sees(command, extra, expected, workdir, monkeypatch, capsys):
    kind, opt = expected
    seen = run(command, extra, workdir, monkeypatch, capsys)
    if kind == "help":
        assert seen[:2] == ("exit", 0) and "usage:" in seen[2], seen
        return
    assert seen[0] == "exit", f"{command} {' '.join(extra)} was accepted: it reached real work (a silent accept)"
    _, code, _, err = seen
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    if kind == "refused":
        assert opt in lines[0], f"the refusal does not name {opt}: {lines[0]}"


PLANTS = {  # a fault each, planted in a scratch copy of dpt; the sweep must fail on the named case
    "silent accept": ("dpt/experiments/base2novel.py", "    args = ap.parse_args(argv)\n",
                      "    args = ap.parse_args(argv)\n    args.seeds = [1]  # planted: --seeds ignores its value\n",
                      "base2novel and seeds and -1"),
    "traceback": ("dpt/experiments/recipes.py", "def main(argv=None) -> None:",
                  "def main(argv=None) -> None:\n    raise KeyError('planted')", "recipes and help"),
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", PLANTS)
def test_the_sweep_catches_a_silent_accept_and_a_traceback(tmp_path, fault):
    """A mutation check: in a scratch copy of dpt with one fault planted, the sweep's case for it fails; without the
    fault, the same cases pass."""
    path, old, new, select = PLANTS[fault]
    results = {}
    for planted in (False, True):
        copy = tmp_path / ("planted" if planted else "clean")
        shutil.copytree(ROOT / "dpt", copy / "dpt", ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
        for weights in (ROOT / "dpt" / "assets").glob("*.pt"):  # the shipped checkpoints, linked, not copied
            os.symlink(weights, copy / "dpt" / "assets" / weights.name)
        shutil.copytree(ROOT / "tests", copy / "tests", ignore=shutil.ignore_patterns("__pycache__"))
        if planted:
            source = (copy / path).read_text()
            assert old in source, f"the plant's anchor moved: {old!r} is no longer in {path}"
            (copy / path).write_text(source.replace(old, new, 1))
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", select,
                               "tests/test_cli_sweep.py::test_what_the_user_sees"], cwd=copy, capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(copy)}, timeout=600)
        results[planted] = proc
    assert results[False].returncode == 0, results[False].stdout[-2000:]
    assert results[True].returncode == 1 and " failed" in results[True].stdout, results[True].stdout[-2000:]
