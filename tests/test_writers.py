"""One guard for every file dpt writes (dpt.files.check_target): a command writes only files it creates or files
of its own kind; an empty path, a folder, somebody else's file and the plan a search reads are refused before
any work. The scan below fails if any module writes a file another way, and a planted bypass shows it can fail."""
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch

from dpt import files
from dpt.experiments import writers
from dpt.errors import BadInput
from conftest import dpt_command

ROOT = Path(__file__).resolve().parents[1]
WRITES = re.compile(r"\.write_(text|bytes)\(|torch\.save\(|\.savefig\(|nbformat\.write\(|json\.dump\(|"
                    r"\bopen\(.*['\"][wax]b?\+?['\"]|os\.(replace|rename)\(|shutil\.(copy|move)|np\.save|"
                    r"\.to_csv\(|pickle\.dump|\.save\((?!.*\bkind=)|mkstemp\(|NamedTemporaryFile\(")


OWN_TEMP = "# into its own temporary folder"  # a write there replaces nothing of anyone's (said on the line)


GUARDED = ("files.py", "experiments/writers.py")  # the library's writers and the lab's, each behind check_target


def writes_outside_the_guard(package: Path) -> list[str]:
    """file:line of every write primitive in `package` outside the two writer modules."""
    hits = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).as_posix() in GUARDED:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if WRITES.search(line.split("#")[0]) and OWN_TEMP not in line:
                hits.append(f"{path.relative_to(package)}:{n}: {line.strip()}")
    return hits


@pytest.mark.parametrize("package", ["dpt", "benchmarks"])
def test_every_write_goes_through_the_guard(package):
    assert writes_outside_the_guard(ROOT / package) == []


def test_a_record_replaces_only_its_own_writers(tmp_path):
    path = tmp_path / "r.json"
    writers.write_record(path, {"a": 1}, "benchmarks/x.py")
    writers.write_record(path, {"a": 2}, "benchmarks/x.py")
    with pytest.raises(BadInput, match="is not a record of benchmarks/y.py"):
        writers.write_record(path, {"a": 3}, "benchmarks/y.py")
    legacy = tmp_path / "old.json"
    legacy.write_text(json.dumps({"a": 0, "b": 0}))  # written before records named their writer: the same shape
    writers.write_record(legacy, {"a": 1, "b": 1}, "benchmarks/x.py")
    with pytest.raises(BadInput):
        writers.write_record(legacy.with_name("other.json") if legacy.with_name("other.json").write_text('{"z": 1}')
                           else None, {"a": 1}, "benchmarks/x.py")
    assert json.loads(path.read_text()) == {"writer": "benchmarks/x.py", "a": 2}


@pytest.mark.parametrize("bypass", ['Path(out).write_text("x")', 'torch.save(state, out)', 'fig.savefig(out)',
                                    'open(out, "w").write("x")', 'os.replace(tmp, out)', 'open(Path(out), "wb")',
                                    'pickle.dump(state, fig)', 'fig.save(out)'])
def test_a_planted_bypass_is_found(tmp_path, bypass):
    copy = tmp_path / "dpt"
    shutil.copytree(ROOT / "dpt", copy, ignore=shutil.ignore_patterns("assets", "__pycache__"))
    with open(copy / "evaluate.py", "a") as f:
        f.write(f"\n\ndef _planted(out, state=None, fig=None, tmp=None):\n    {bypass}\n")
    assert [h.split(":")[0] for h in writes_outside_the_guard(copy)] == ["evaluate.py"]


def test_the_guard_refuses_what_it_must(tmp_path):
    mine = tmp_path / "mine.txt"
    mine.write_text("a user's notes")
    for path, match in (("", "an empty path"), (tmp_path, "is a folder"), (f"{tmp_path / 'new'}/", "is a folder"),
                        (mine, "exists and is not a results file")):
        with pytest.raises(BadInput, match=match):
            files.check_target(path, "results file")
    assert files.check_target(mine, "results file", own=lambda p: True) == mine
    assert files.check_target(mine, "results file", force=True) == mine
    assert files.check_target(tmp_path / "new.json", "results file") == tmp_path / "new.json"


@pytest.mark.parametrize("write", [
    lambda p: files.atomic_save({"a": 1}, p, kind="prompt file", own=files.torch_format("dpt-prompt")),
    lambda p: files.atomic_write_text(p, "x", kind="training log", own=writers.json_format("never")),
    lambda p: writers.write_json_atomic(p, {"a": 1}, kind="tuning file", own=writers.json_format("dpt-tuning")),
    lambda p: files.append_lines(p, ["x\n"], kind="training log", own=writers.json_format("never")),
    lambda p: writers.save_figure(__import__("matplotlib.figure", fromlist=["Figure"]).Figure(), p.with_suffix(".txt")),
    lambda p: writers.write_notebook(__import__("nbformat").v4.new_notebook(), p),
], ids=["atomic_save", "atomic_write_text", "write_json_atomic", "append_lines", "save_figure", "write_notebook"])
def test_every_writer_keeps_a_file_that_is_not_its_own(tmp_path, write):
    other = tmp_path / "other.txt"
    other.write_text("somebody else's")
    target = other
    with pytest.raises(BadInput, match="exists and is not a"):
        write(target)
    assert other.read_text() == "somebody else's"


def test_a_writer_replaces_its_own_kind(tmp_path):
    path = tmp_path / "t.json"
    writers.write_json_atomic(path, {"format": "dpt-tuning", "n": 1}, kind="tuning file", own=writers.json_format("dpt-tuning"))
    writers.write_json_atomic(path, {"format": "dpt-tuning", "n": 2}, kind="tuning file", own=writers.json_format("dpt-tuning"))
    assert json.loads(path.read_text())["n"] == 2


cli = dpt_command


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory):
    from dpt.backbones import load_backbone
    from dpt.data import load_miniature, subsample_classes
    from dpt.methods import build_method
    from dpt.experiments.saved import save_prompts
    ds = subsample_classes(load_miniature("mini_toys"), "base")
    method = build_method("coop", load_backbone("miniclip"), ds.classnames, ds.template)
    return save_prompts(method, tmp_path_factory.mktemp("p") / "mine.pt")


def test_export_head_never_replaces_the_prompt_or_another_file(prompt_file, tmp_path, monkeypatch, capsys):
    before = prompt_file.read_bytes()
    code, io = cli(monkeypatch, capsys, "predict", "--prompts", prompt_file, "--export-head", prompt_file)
    assert code == 2 and "exists and is not a head" in io.err and prompt_file.read_bytes() == before
    checkpoint = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2)}, checkpoint)
    code, io = cli(monkeypatch, capsys, "predict", "--prompts", prompt_file, "--export-head", checkpoint)
    assert code == 2 and "--force" in io.err and torch.load(checkpoint)["weights"].shape == (2,)
    code, io = cli(monkeypatch, capsys, "predict", "--prompts", prompt_file, "--export-head", tmp_path / "head.pt")
    assert code == 0, io.err
    code, io = cli(monkeypatch, capsys, "predict", "--prompts", prompt_file, "--export-head", tmp_path / "head.pt")
    assert code == 0, io.err  # a head replaces a head
    code, io = cli(monkeypatch, capsys, "predict", "--prompts", prompt_file, "--export-head", checkpoint, "--force")
    assert code == 0 and torch.load(checkpoint)["format"] == "dpt-head"
    code, io = cli(monkeypatch, capsys, "predict", "--prompts", prompt_file, "--export-head", "")
    assert code == 2 and "an empty path" in io.err


def test_save_prompts_keeps_a_file_that_is_not_a_prompt(prompt_file, tmp_path):
    from dpt.experiments.saved import load_prompts, save_prompts
    method = load_prompts(prompt_file).method
    notes = tmp_path / "notes.pt"
    notes.write_text("mine")
    with pytest.raises(BadInput, match="exists and is not a prompt file"):
        save_prompts(method, notes)
    assert notes.read_text() == "mine"
    save_prompts(method, prompt_file)  # a prompt file is replaced by a prompt


def test_a_search_never_replaces_its_plan_or_a_foreign_file(tmp_path, monkeypatch, capsys):
    from test_search_plan import PLAN
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    before = plan.read_text()
    monkeypatch.setattr("dpt.experiments.search.search", lambda *a, **k: pytest.fail("the search ran"))
    code, io = cli(monkeypatch, capsys, "search", "--plan", plan, "--out", plan)
    assert code == 2 and plan.read_text() == before and ("plan itself" in io.err or "not a search result" in io.err)
    notes = tmp_path / "notes.json"
    notes.write_text("{}")
    code, io = cli(monkeypatch, capsys, "search", "--plan", plan, "--out", notes)
    assert code == 2 and "exists and is not a search result" in io.err and notes.read_text() == "{}"


@pytest.mark.parametrize("argv, match", [
    (["--out", ""], "an empty path was given for the results file"),
    (["--out", "newdir/"], "is a folder"),
    (["--save-prompts", ""], "an empty path was given for the prompt folder"),
    (["--runs-dir", ""], "an empty path was given for the runs folder"),
    (["--cache-dir", ""], "an empty path was given for the feature cache"),
])
def test_an_empty_path_is_not_here(argv, match, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, io = cli(monkeypatch, capsys, "base2novel", "--methods", "coop", "--datasets", "mini_toys", "--seeds", "1",
                   "--epochs", "2", "--split", "val", *argv)
    assert code == 2 and match in io.err and len(io.err.strip().splitlines()) == 1, io.err
    assert sorted(os.listdir(tmp_path)) == []  # nothing written here


def test_an_empty_cache_variable_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DPT_CACHE", "")
    code, io = cli(monkeypatch, capsys, "base2novel", "--methods", "zeroshot", "--datasets", "mini_toys", "--seeds",
                   "1", "--split", "val", "--out", tmp_path / "r.json")
    assert code == 2 and "DPT_CACHE is set to an empty path" in io.err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root writes anywhere")
def test_read_only_folders_are_one_line(tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    for option in ("--runs-dir", "--save-prompts"):
        code, io = cli(monkeypatch, capsys, "base2novel", "--methods", "coop", "--datasets", "mini_toys", "--seeds",
                       "1", "--split", "val", "--out", tmp_path / "r.json", option, locked / "sub")
        assert code == 2 and "cannot write into" in io.err and "Traceback" not in io.err


def test_an_unwritable_runs_folder_is_one_line(tmp_path, monkeypatch, capsys):
    """(as root too: a path under a file cannot be a folder)"""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for option in ("--runs-dir", "--save-prompts"):
        code, io = cli(monkeypatch, capsys, "base2novel", "--methods", "coop", "--datasets", "mini_toys", "--seeds",
                       "1", "--split", "val", "--out", tmp_path / "r.json", option, blocker / "sub")
        assert code == 2 and "cannot write into" in io.err and len(io.err.strip().splitlines()) == 1, io.err


def test_a_killed_save_leaves_no_temporary_file_for_long(tmp_path, monkeypatch, capsys):
    """A SIGKILL while a prompt is saved leaves `.<name>.<pid>@<host>.<random>.tmp`: the next run into the folder removes
    those of dead processes, and never a live writer's."""
    import subprocess
    folder = tmp_path / "prompts"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = files.writer_tag().split("@")[1]
    stale = folder / f".coop-mini_toys-seed1-abc.pt.{dead.pid}@{host}.k2j3h4.tmp"
    live = folder / f".coop-mini_toys-seed1-abc.pt.{os.getpid()}@{host}.x9y8z7.tmp"
    stale.write_bytes(b"half")
    live.write_bytes(b"writing")
    code, io = cli(monkeypatch, capsys, "base2novel", "--methods", "zeroshot", "--datasets", "mini_toys", "--seeds",
                   "1", "--split", "val", "--out", tmp_path / "r.json", "--save-prompts", folder, "--no-progress")
    assert code == 0, io.err
    assert not stale.exists() and live.exists()


def test_pretrain_may_replace_a_checkpoint_whose_record_predates_arch(tmp_path):
    """The shipped v1 record has steps and a loss curve but no 'arch': it is a pretraining record all the same."""
    from dpt.experiments.pretrain import _is_record
    record = tmp_path / "m.json"
    record.write_text(json.dumps({"steps": 10, "loss_curve": [[0, 1.0]]}))
    assert _is_record(record) and files.check_target(tmp_path / "m.json", "pretraining record", own=_is_record)
    shipped = ROOT / "dpt" / "assets" / "miniclip.json"
    assert _is_record(shipped)


def test_a_figure_replaces_only_what_matplotlib_wrote(tmp_path):
    from matplotlib.figure import Figure
    from PIL import Image
    photo = tmp_path / "world.png"
    Image.new("RGB", (4, 4)).save(photo)  # somebody's picture, by the figure's name
    with pytest.raises(BadInput, match="exists and is not a figure"):
        writers.save_figure(Figure(), photo)
    writers.save_figure(Figure(), tmp_path / "mine.png")
    writers.save_figure(Figure(), tmp_path / "mine.png")  # its own: replaced
