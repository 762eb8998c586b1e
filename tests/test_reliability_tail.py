"""What a crash, a damaged file or a protected file leaves behind: the last kinds of silent acceptance, one fault
planted per test (a kill mid-write, a truncated file, a 0444 file as root, an unreadable file, a zero-byte image,
an ignored option, a non-tensor state dict, the old module path). Each ends in one line, a non-zero exit and
nothing recorded, or, where running is right, with a row that records what really ran."""
import dataclasses
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import dpt_command, make_dtd, one_line
from dpt import files
from dpt.experiments import writers
from dpt.errors import BadInput, DptError, Unwritable

ROOT = Path(__file__).resolve().parents[1]
ZERO_SHOT = ["base2novel", "--methods", "zeroshot", "--datasets", "mini_toys", "--seeds", "1", "--split", "val",
             "--no-progress"]
COOP = ["base2novel", "--methods", "coop", "--datasets", "mini_toys", "--seeds", "1", "--split", "val",
        "--epochs", "2", "--no-progress"]

cli = dpt_command


# A writer killed mid-write: torch.save writes half a file, then the process gets SIGKILL (which runs no cleanup).
KILLED = """
import os, signal, sys
from pathlib import Path
import torch
from dpt import files
def dying(obj, f):
    Path(f).write_bytes(b"half a file")
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = dying
files.atomic_save({"a": 1}, Path(sys.argv[1]), kind="checkpoint", own=files.ours_by_path)
"""


def kill_mid_write(path: Path) -> Path:
    """Kill a process while it writes `path`; returns the temporary file it left beside it."""
    before = set(path.parent.glob(".*.tmp")) if path.parent.is_dir() else set()
    done = subprocess.run([sys.executable, "-c", KILLED, str(path)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == -signal.SIGKILL
    (left,) = set(path.parent.glob(".*.tmp")) - before
    return left


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*.tmp"))


# 1. Leftovers of a crash

def removals(record) -> int:
    """How many warnings said that temporary files were removed (the library warns; it prints nothing)."""
    return sum("removed 1 temporary file" in str(w.message) for w in record)


@pytest.mark.parametrize("write", [
    lambda p: files.atomic_save({"a": 1}, p, kind="checkpoint", own=files.ours_by_path),
    lambda p: writers.write_json_atomic(p, {"format": "x"}, kind="tuning file", own=writers.json_format("x")),
    lambda p: files.atomic_write_text(p, "x", kind="training log", own=files.ours_by_path),
    lambda p: writers.write_record(p, {"a": 1}, "benchmarks/x.py"),
    lambda p: writers.save_figure(__import__("matplotlib.figure", fromlist=["Figure"]).Figure(), p),
    lambda p: writers.write_notebook(__import__("nbformat").v4.new_notebook(), p),
], ids=["atomic_save", "write_json_atomic", "atomic_write_text", "write_record", "save_figure", "write_notebook"])
def test_every_writer_removes_what_killed_writers_left_in_its_folder(tmp_path, write, capsys, recwarn):
    left = kill_mid_write(tmp_path / "checkpoint.pt")
    live = tmp_path / f".other.json.{os.getpid()}.abcd1234.tmp"  # a writer of this process, still at work
    live.write_text("being written")
    write(tmp_path / "new.out")
    assert not left.exists() and live.exists()
    assert removals(recwarn) == 1 and "temporary" not in capsys.readouterr().out
    recwarn.clear()
    write(tmp_path / "new.out")  # nothing left to remove: nothing said
    assert removals(recwarn) == 0


def test_a_results_file_killed_mid_write_is_cleaned_by_the_next_run(tmp_path, monkeypatch, capsys, recwarn):
    out = tmp_path / "r.json"
    left = kill_mid_write(tmp_path / "figure.png")  # a neighbour of the results, written by another command
    code, io = cli(monkeypatch, capsys, *ZERO_SHOT, "--out", out)
    assert code == 0, io.err
    assert not left.exists() and temps(tmp_path) == [] and removals(recwarn) == 1


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    """A finished coop run: its row, its run folder (checkpoint, log) and its prompt file."""
    import io as _io
    from contextlib import redirect_stdout

    from dpt.experiments.base2novel import run_benchmark
    d = tmp_path_factory.mktemp("stored")
    with redirect_stdout(_io.StringIO()):
        run_benchmark(["coop"], ["mini_toys"], [1], d / "r.json", split="val", train_overrides={"epochs": 2},
                      runs_dir=d / "runs", save_prompts=d / "prompts", progress=False)
    return d


def copy_of(stored_run, tmp_path) -> Path:
    d = tmp_path / "copy"
    shutil.copytree(stored_run, d)
    return d


def rerun(d, monkeypatch, capsys):
    return cli(monkeypatch, capsys, *COOP, "--out", d / "r.json", "--runs-dir", d / "runs", "--save-prompts",
               d / "prompts")


@pytest.mark.slow
def test_a_checkpoint_and_a_prompt_killed_mid_write_are_cleaned_by_the_rerun(stored_run, tmp_path, monkeypatch,
                                                                              capsys, recwarn):
    """The rerun reuses the stored run (nothing is trained, so no writer touches the run folder): the runs folder
    and the prompt folder are cleaned as they are opened."""
    d = copy_of(stored_run, tmp_path)
    (run_folder,) = (d / "runs").iterdir()
    left = [kill_mid_write(run_folder / "checkpoint.pt"), kill_mid_write(next((d / "prompts").iterdir()))]
    before = (d / "r.json").read_text()
    code, io = rerun(d, monkeypatch, capsys)
    assert code == 0, io.err
    assert not any(p.exists() for p in left) and temps(d) == [] and "reusing 1 finished run" in io.out
    assert removals(recwarn) == 2 and (d / "r.json").read_text() == before
    recwarn.clear()
    code, io = rerun(d, monkeypatch, capsys)
    assert code == 0 and removals(recwarn) == 0  # nothing removed, nothing said


# 2. A damaged file reused as if it were whole

@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "non-tensor state"])
def test_a_damaged_prompt_file_of_a_stored_run_is_not_reused(stored_run, tmp_path, monkeypatch, capsys, damage):
    d = copy_of(stored_run, tmp_path)
    (prompt,) = (d / "prompts").iterdir()
    if damage == "truncate":
        prompt.write_bytes(prompt.read_bytes()[:300])
    else:
        doc = torch.load(prompt, weights_only=True)
        torch.save({**doc, "state": {k: 1.0 for k in doc["state"]}}, prompt)
    before = {p: p.read_bytes() for p in (prompt, d / "r.json")}
    code, io = rerun(d, monkeypatch, capsys)
    one_line(code, io, f"a stored run's prompt file is damaged: {prompt}")
    assert {p: p.read_bytes() for p in before} == before  # nothing recorded, the damaged file kept for the user


# 3. Files the user protected

def test_a_read_only_results_file_is_not_replaced_even_by_root(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.json"
    assert cli(monkeypatch, capsys, *ZERO_SHOT, "--out", out)[0] == 0
    out.chmod(0o444)
    before = out.read_bytes()
    code, io = cli(monkeypatch, capsys, *ZERO_SHOT[:4], "mini_paints", *ZERO_SHOT[5:], "--out", out)
    one_line(code, io, f"{out} is read-only (mode 444): it is not replaced")
    assert out.read_bytes() == before and (out.stat().st_mode & 0o777) == 0o444


def test_a_read_only_file_is_replaced_only_with_force(tmp_path):
    path = tmp_path / "t.json"
    writers.write_json_atomic(path, {"format": "x", "n": 1}, kind="tuning file", own=writers.json_format("x"))
    path.chmod(0o444)
    for write in (lambda **k: writers.write_json_atomic(path, {"format": "x", "n": 2}, kind="tuning file",
                                                      own=writers.json_format("x"), **k),
                  lambda **k: files.append_lines(path, ["x\n"], kind="training log", own=files.ours_by_path)):
        with pytest.raises(Unwritable, match="is read-only"):
            write()
    assert json.loads(path.read_text())["n"] == 1
    writers.write_json_atomic(path, {"format": "x", "n": 2}, kind="tuning file", own=writers.json_format("x"), force=True)
    assert json.loads(path.read_text())["n"] == 2


@pytest.fixture
def prompt(tmp_path):
    """A coop prompt file of mini_toys (untrained: what is in it does not matter here)."""
    from dpt.backbones import load_backbone
    from dpt.data import load_miniature
    from dpt.methods import build_method
    from dpt.experiments.saved import save_prompts
    ds = load_miniature("mini_toys", per_class={"train": 1, "val": 1, "test": 1})
    ds.load_image(ds.test[0]).save(tmp_path / "img.png")
    return save_prompts(build_method("coop", load_backbone("miniclip"), ds.classnames, ds.template), tmp_path / "p.pt")


def test_a_read_only_head_is_replaced_only_with_force(prompt, tmp_path, monkeypatch, capsys):
    head = tmp_path / "head.pt"
    assert cli(monkeypatch, capsys, "predict", "--prompts", prompt, "--export-head", head)[0] == 0
    head.chmod(0o444)
    before = head.read_bytes()
    code, io = cli(monkeypatch, capsys, "predict", "--prompts", prompt, "--export-head", head)
    assert "--force" in one_line(code, io, "is read-only") and head.read_bytes() == before
    code, io = cli(monkeypatch, capsys, "predict", "--prompts", prompt, "--export-head", head, "--force")
    assert code == 0, io.err


def test_a_read_only_folder_is_refused_even_as_root(tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    for option in ("--runs-dir", "--save-prompts"):
        code, io = cli(monkeypatch, capsys, *COOP, "--out", tmp_path / "r.json", option, locked)
        one_line(code, io, f"cannot write into {locked}")
    assert list(locked.iterdir()) == [] and not (tmp_path / "r.json").exists()


# 4. What the disk says

def test_data_opens_every_listed_image(tmp_path, monkeypatch, capsys):
    root = make_dtd(tmp_path / "data")
    empty = root / "dtd" / "images" / "bumpy" / "test_1.jpg"
    empty.write_bytes(b"")  # zero bytes: it exists, and is no image
    code, io = cli(monkeypatch, capsys, "data", "--data-root", root, "--datasets", "DTD")
    line = next(l for l in io.out.splitlines() if "DTD" in l)
    assert code == 1 and "1 listed image(s) unreadable" in line and str(empty) in line, io.out
    folder = root / "dtd" / "images" / "bumpy" / "test_0.jpg"  # an unreadable file: a folder by an image's name
    folder.unlink()
    folder.mkdir()
    code, io = cli(monkeypatch, capsys, "data", "--data-root", root, "--datasets", "DTD")
    assert code == 1 and "2 listed image(s) unreadable" in io.out and "Traceback" not in io.err, io.out + io.err


@pytest.fixture
def io_error_on(monkeypatch):
    """Make reading (or stat-ing) one path fail as a failing disk does: OSError EIO."""
    def plant(path: Path):
        read_text, stat = Path.read_text, os.stat

        def failing_read(self, *a, **k):
            if Path(self) == path:
                raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))
            return read_text(self, *a, **k)

        def failing_stat(p, *a, **k):
            if os.fspath(p) == str(path):
                raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))
            return stat(p, *a, **k)
        monkeypatch.setattr(Path, "read_text", failing_read)
        monkeypatch.setattr("dpt.data.dataset.os.stat", failing_stat)
    return plant


def test_an_io_error_on_a_split_file_is_one_line(tmp_path, monkeypatch, capsys, io_error_on):
    root = make_dtd(tmp_path / "data")
    split = root / "dtd" / "split_zhou_DescribableTextures.json"
    io_error_on(split)
    code, io = cli(monkeypatch, capsys, "data", "--data-root", root, "--datasets", "DTD")
    assert code == 1 and f"{split} cannot be read (Input/output error)" in io.out and not io.err, io.out + io.err
    out = tmp_path / "r.json"
    code, io = cli(monkeypatch, capsys, "base2novel", "--methods", "zeroshot", "--datasets", "DTD", "--data-root", root,
                   "--seeds", "1", "--no-progress", "--out", out)
    one_line(code, io, f"{split} cannot be read (Input/output error)")
    assert not out.exists()


def test_an_io_error_on_an_image_is_one_line(tmp_path, monkeypatch, capsys, io_error_on):
    root = make_dtd(tmp_path / "data")
    image = root / "dtd" / "images" / "banded" / "test_0.jpg"
    io_error_on(image)
    out = tmp_path / "r.json"
    code, io = cli(monkeypatch, capsys, "base2novel", "--methods", "zeroshot", "--datasets", "DTD", "--data-root", root,
                   "--seeds", "1", "--no-progress", "--out", out)
    one_line(code, io, f"image file {image} cannot be read (Input/output error)")
    assert not out.exists()


# 5. Options that do nothing

@pytest.mark.parametrize("option", [["--train-set", "precision=fp16"], ["--epochs", "3"], ["--augment", "online"],
                                    ["--augment", "views", "--views", "2"], ["--runs-dir", "runs"]])
def test_a_training_option_for_a_method_that_does_not_train_is_refused(tmp_path, monkeypatch, capsys, option):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "r.json"
    code, io = cli(monkeypatch, capsys, *ZERO_SHOT, *option, "--out", out)
    one_line(code, io, "not used: zeroshot does not train")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_training_option_that_some_methods_read_is_said_and_not_recorded_for_the_others(capsys):
    from dpt.experiments.grid import Trial, check_training_options
    check_training_options([Trial("zeroshot", "mini_toys", 1), Trial("coop", "mini_toys", 1)], {"precision": "fp32"})
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["note: training options (precision=fp32) apply to coop only (zeroshot does not train)"]


def test_a_zero_shot_row_records_no_training_it_did_not_have(miniclip):
    """Beside coop (which reads it), the zero-shot row's identity records no precision: what really ran."""
    from dpt.data import load_miniature
    from dpt.experiments.grid import Trial, plan_runs
    from dpt.experiments.identity import run_identity
    from dpt.experiments.profiles import get_profile
    runs = plan_runs([Trial("zeroshot", "mini_toys", 1), Trial("coop", "mini_toys", 1)], get_profile("miniature"), 2,
                     "val", {"precision": "fp32"})
    zs, coop = (run_identity(r, load_miniature("mini_toys"), miniclip, "cpu") for r in runs)
    assert zs["train"] is None and zs["precision"] is None and coop["train"]["precision"] == "fp32"


# 6. Checkpoints of the wrong shape

def test_a_checkpoint_of_non_tensors_is_one_line(tmp_path, monkeypatch, capsys):
    from dpt.backbones import load_backbone
    checkpoint = tmp_path / "weights.pt"
    torch.save({k: 1.0 for k in load_backbone("miniclip").model.state_dict()}, checkpoint)
    out = tmp_path / "r.json"
    code, io = cli(monkeypatch, capsys, *ZERO_SHOT, "--pretrained", checkpoint, "--out", out)
    one_line(code, io, f"checkpoint file {checkpoint} is not a model checkpoint: its state dict holds float")
    assert not out.exists()
    for name in ("miniclip-v2", "ViT-B-16"):  # every loader reads checkpoints through the same check
        with pytest.raises(DptError, match="not a tensor"):
            load_backbone(name, pretrained=str(checkpoint))


def test_a_prompt_file_or_head_of_non_tensors_is_one_line(prompt, tmp_path, monkeypatch, capsys):
    from dpt.experiments.prompt_files import load_head
    doc = torch.load(prompt, weights_only=True)
    torch.save({**doc, "state": {k: v.tolist() for k, v in doc["state"].items()}}, prompt)
    code, io = cli(monkeypatch, capsys, "predict", "--prompts", prompt, tmp_path / "img.png")
    one_line(code, io, f"{prompt} is a damaged prompt file (its 'state' is dict")
    head = tmp_path / "head.pt"
    torch.save({"format": "dpt-head", "features": [[1.0]], "classnames": ["a"], "logit_scale": 1.0}, head)
    with pytest.raises(BadInput, match="is a damaged head"):
        load_head(head)


def test_a_pretraining_state_of_the_wrong_shape_is_one_line(tmp_path):
    from dpt.experiments.pretrain import resume_state
    partial = tmp_path / "partial.pt"
    torch.save({"model": {"w": 1.0}, "settings": {}}, partial)
    with pytest.raises(BadInput, match="it is not a pretraining state"):
        resume_state(partial, {}, None, None, None, None)


def test_info_checks_what_it_reports(tmp_path, monkeypatch, capsys):
    """A package copy without a shipped record file is not healthy: one line that names it, exit status 2."""
    from dpt.miniclip import MINICLIPS
    assert cli(monkeypatch, capsys, "info")[0] == 0
    spec = MINICLIPS["miniclip-v2"]
    copy = tmp_path / spec.checkpoint.name
    shutil.copy(spec.checkpoint, copy)  # the checkpoint, without its record beside it
    monkeypatch.setitem(MINICLIPS, spec.name, dataclasses.replace(spec, checkpoint=copy))
    code, io = cli(monkeypatch, capsys, "info")
    one_line(code, io, f"its record {copy.with_suffix('.json')} is missing or damaged")
    copy.with_suffix(".json").write_text(json.dumps({"steps": 10}))  # a record without what info reports
    code, io = cli(monkeypatch, capsys, "info")
    one_line(code, io, "KeyError: 'final_loss'")
    monkeypatch.setitem(MINICLIPS, spec.name, spec)
    monkeypatch.setattr("dpt.experiments.recipes.RECIPES_FILE", tmp_path / "recipes.json")  # not shipped here
    code, io = cli(monkeypatch, capsys, "info")
    one_line(code, io, f"the recipes file {tmp_path / 'recipes.json'} is damaged")


# 7. Old entry points

@pytest.mark.parametrize("module, match", [
    ("dpt.pretrain", "its command is python -m dpt pretrain"),
    ("dpt.experiments.pretrain", "its command is python -m dpt pretrain"),
    ("dpt.experiments.base2novel", "its command is python -m dpt base2novel"),
    ("dpt.experiments.ablation", "its command is python -m dpt ablate"),
    ("dpt.trainer", "it is a module of dpt, not a command"),
])
def test_a_module_run_as_a_script_says_where_its_command_is(tmp_path, module, match):
    done = subprocess.run([sys.executable, "-m", module, "--steps", "1"], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and match in lines[0], done.stderr
    assert list(tmp_path.iterdir()) == [] and not done.stdout


@pytest.mark.parametrize("flags", [["-Bm", "dpt.pretrain"], ["-mdpt.pretrain"], ["-X", "dev", "-Bqm", "dpt.pretrain"]])
def test_combined_short_flags_are_caught_too(flags):
    from dpt.scripts import module_run_as_script
    import unittest.mock
    with unittest.mock.patch.object(sys, "orig_argv", [sys.executable, *flags, "--steps", "1"]), \
            unittest.mock.patch.object(sys, "argv", ["-m", "--steps", "1"]):  # sys.argv while -m's module is found
        assert module_run_as_script() == "dpt.pretrain"
    for other, argv in ((["-Bc", "import dpt"], ["-c"]), (["-B", "script.py", "-m", "dpt.pretrain"],
                                                         ["script.py", "-m", "dpt.pretrain"]), (["-W", "ignore", "-"], ["-"])):
        with unittest.mock.patch.object(sys, "orig_argv", [sys.executable, *other]), \
                unittest.mock.patch.object(sys, "argv", argv):
            assert module_run_as_script() is None


def test_the_command_line_itself_still_runs(tmp_path):
    done = subprocess.run([sys.executable, "-m", "dpt", "help"], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0 and "pretrain" in done.stdout, done.stderr
