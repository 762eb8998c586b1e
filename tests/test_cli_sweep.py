"""Every command, every option, nonsense values: no traceback ever reaches the user (issue 27). The cases are
generated from the commands' own argument parsers, so an option added later is swept too. Each invocation runs
in-process until it refuses (exit status), or until it would start real work (loading a model, executing a
notebook, rendering a corpus), which is stopped there: accepted values are fine, a traceback is not."""
import json
import sys

import pytest

from dpt.errors import run_cli
from dpt.experiments import cli

NONSENSE = ["-1", "0", "nan", "1e30", "", "abc"]
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
    from dpt import pretrain
    out = {name: cli.parser_of(name) for name in cli.COMMANDS}
    out["pretrain"] = pretrain.parser()
    return out


def cases():
    out = []
    for name, ap in parsers().items():
        out.append((name, ["--help"]))
        out.append((name, ["--no-such-option"]))
        for action in ap._actions:
            if not action.option_strings or "--help" in action.option_strings:
                continue
            opt = max(action.option_strings, key=len)
            values = [[]] if action.nargs == 0 else [[v] for v in NONSENSE]
            for v in values:
                out.append((name, [opt, *v]))
    return out


CASES = cases()


def test_every_command_is_swept():
    assert set(BASE) == {*cli.COMMANDS, "pretrain"} and len(CASES) > 300


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from dpt.backbones import load_backbone
    from dpt.data import load_miniature
    from dpt.methods import build_method
    from dpt.saved import save_prompts
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


@pytest.mark.parametrize("command, extra", CASES, ids=[f"{c}:{' '.join(a) or 'empty'}" for c, a in CASES])
def test_no_traceback(command, extra, workdir, monkeypatch, capsys):
    import nbclient
    from dpt import backbones, pretrain, saved
    from dpt.experiments import colab, grid
    for module, name in ((backbones, "load_backbone"), (grid, "load_backbone"), (saved, "load_backbone"),
                         (pretrain, "render_corpus"), (colab, "apply")):
        monkeypatch.setattr(module, name, stop)
    monkeypatch.setattr(nbclient.NotebookClient, "execute", stop)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("DPT_CACHE", str(workdir / "cache"))
    monkeypatch.setenv("DPT_RESULTS", str(workdir / "results"))
    argv = [*BASE[command], *extra]
    if command == "pretrain":
        entry = lambda: pretrain.main(argv)  # noqa: E731
    else:
        monkeypatch.setattr(sys, "argv", ["dpt", command, *argv])
        entry = cli.dispatch
    try:
        run_cli(entry)
    except SystemExit:
        pass
    except WouldWork:
        pass
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
