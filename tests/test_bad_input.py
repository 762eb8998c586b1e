"""Every bad input stops with one line (what is wrong, what to do), exit status 2, before any work,
and nothing is recorded (one test each)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dpt.experiments.cli import dispatch, options_of_this_command
from dpt.errors import DptError
from dpt.experiments.command_line import run_cli

from conftest import make_dtd

ROOT = Path(__file__).resolve().parents[1]
GRID = ["base2novel", "--methods", "zeroshot", "coop", "--datasets", "mini_toys", "--seeds", "1", "--split", "val",
        "--no-progress"]


def cli(monkeypatch, capsys, *argv):
    """Run `python -m dpt ARGV` in-process; returns (exit status, stderr)."""
    monkeypatch.setattr(sys, "argv", ["dpt", *map(str, argv)])
    with pytest.raises(SystemExit) as e:
        run_cli(dispatch, options=options_of_this_command)
    return e.value.code, capsys.readouterr().err


def refused(monkeypatch, capsys, out: Path, *argv, match: str):
    code, err = cli(monkeypatch, capsys, *argv, "--out", out)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert match in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("epochs", ["0", "-2"])
def test_epochs_below_one(monkeypatch, capsys, tmp_path, epochs):
    out = tmp_path / "r.json"
    refused(monkeypatch, capsys, out, *GRID, "--epochs", epochs, match=f"epochs must be at least 1, got {epochs}")
    assert not out.exists()


def test_batch_size_zero(monkeypatch, capsys, tmp_path):
    refused(monkeypatch, capsys, tmp_path / "r.json", *GRID, "--train-set", "batch_size=0",
            match="batch_size must be at least 1")


def test_unknown_train_set_key(monkeypatch, capsys, tmp_path):
    refused(monkeypatch, capsys, tmp_path / "r.json", *GRID, "--train-set", "epoch=3",
            match="unknown training option(s) ['epoch']; valid: epochs, batch_size")


def test_method_option_of_the_wrong_type(monkeypatch, capsys, tmp_path):
    refused(monkeypatch, capsys, tmp_path / "r.json", *GRID, "--methods", "dpt", "--set", "mi_weight=abc",
            match="method option mi_weight='abc' must be of type float, not str")


def test_out_is_a_directory(monkeypatch, capsys, tmp_path):
    refused(monkeypatch, capsys, tmp_path, *GRID, match="is a folder")


def test_out_is_not_a_results_file(monkeypatch, capsys, tmp_path):
    out = tmp_path / "notes.json"
    out.write_text('{"my": "notes"}')
    refused(monkeypatch, capsys, out, *GRID, match="is not a dpt results file")
    assert out.read_text() == '{"my": "notes"}'


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody can write to, root included: chattr +i as root (root ignores file modes), else chmod."""
    d = tmp_path / "read-only"
    d.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode != 0:
            pytest.skip("running as root on a filesystem without chattr +i: cannot make a read-only folder")
        yield d
        subprocess.run(["chattr", "-i", str(d)], check=True)
    else:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)


def test_out_is_read_only(monkeypatch, capsys, read_only):
    out = read_only / "r.json"
    line = refused(monkeypatch, capsys, out, *GRID, match=f"cannot write results to {out} (")
    assert line.endswith("); choose a writable --out")


def test_read_only_cache_warns_and_runs_without_it(tmp_path, read_only):
    from dpt.experiments.base2novel import run_benchmark
    with pytest.warns(UserWarning, match=f"cannot write the feature cache at {read_only} .*running without it"):
        rows = run_benchmark(["zeroshot"], ["mini_toys"], [1], tmp_path / "r.json", split="val", cache_dir=read_only,
                             progress=False)
    assert len(rows) == 1 and not list(read_only.iterdir())


def _dpt(*argv):
    return subprocess.run([sys.executable, "-m", "dpt", *map(str, argv)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)


def _dtd_grid(root):
    return ["base2novel", "--methods", "zeroshot", "coop", "--datasets", "DTD", "--data-root", root, "--seeds", "1",
            "--epochs", "2", "--shots", "2", "--no-progress"]


def test_truncated_image_is_named_before_training(monkeypatch, capsys, tmp_path):
    root = make_dtd(tmp_path / "data")
    bad = root / "dtd" / "images" / "bumpy" / "test_1.jpg"
    bad.write_bytes(bad.read_bytes()[:40])
    out = tmp_path / "r.json"
    line = refused(monkeypatch, capsys, out, *_dtd_grid(root), match=f"image {bad} of DTD cannot be read")
    assert "replace it with a good copy" in line and not out.exists()


def _edit_split(root, edit):
    path = root / "dtd" / "split_zhou_DescribableTextures.json"
    split = json.loads(path.read_text())
    path.write_text(edit(split) if callable(edit) else edit)
    return path


def test_malformed_split_json_names_the_file(monkeypatch, capsys, tmp_path):
    root = make_dtd(tmp_path / "data")
    path = _edit_split(root, '{"train": [["a.jpg", 0]]')
    refused(monkeypatch, capsys, tmp_path / "r.json", *_dtd_grid(root), match=f"split file {path} is malformed")


def test_labels_with_gaps(monkeypatch, capsys, tmp_path):
    root = make_dtd(tmp_path / "data")
    path = _edit_split(root, lambda s: json.dumps({k: [e for e in v if e[1] != 1] for k, v in s.items()}))
    refused(monkeypatch, capsys, tmp_path / "r.json", *_dtd_grid(root),
            match=f"split file {path} has gaps in its labels (no images for label(s) [1])")


def test_empty_train_split(monkeypatch, capsys, tmp_path):
    root = make_dtd(tmp_path / "data", per_split={"train": 0, "val": 1, "test": 2})
    refused(monkeypatch, capsys, tmp_path / "r.json", *_dtd_grid(root),
            match="DTD has no training images in its base classes")


def test_no_novel_test_images(monkeypatch, capsys, tmp_path):
    root = make_dtd(tmp_path / "data")
    _edit_split(root, lambda s: json.dumps({**s, "test": [e for e in s["test"] if e[1] < 2]}))
    out = tmp_path / "r.json"
    refused(monkeypatch, capsys, out, *_dtd_grid(root), match="DTD has no novel test images")
    assert not out.exists()


def test_base_class_without_training_images_warns(tmp_path):
    from dpt.data import load_dataset
    from dpt.experiments.datasets import check_base_to_novel
    root = make_dtd(tmp_path / "data")
    _edit_split(root, lambda s: json.dumps({**s, "train": [e for e in s["train"] if e[1] != 1]}))
    with pytest.warns(UserWarning, match=r"1 base class\(es\) have no training images \(braided\)"):
        check_base_to_novel(load_dataset("DTD", root=root), "test", needs_train=True)


def test_miniclip_pretrained_path_is_honoured(tmp_path, mini_random):
    from dpt.backbones import load_backbone
    from dpt.backbones import weights_fingerprint
    path = tmp_path / "mine.pt"
    torch.save(mini_random.model.state_dict(), path)
    mine = load_backbone("miniclip", pretrained=str(path))
    assert mine.weights == str(path)
    assert weights_fingerprint(mine) == weights_fingerprint(mini_random) != weights_fingerprint(load_backbone("miniclip"))


def test_miniclip_checkpoint_as_vit_weights(monkeypatch, capsys, tmp_path):
    ckpt = ROOT / "dpt" / "assets" / "miniclip.pt"
    refused(monkeypatch, capsys, tmp_path / "r.json", "base2novel", "--methods", "zeroshot", "--backbone", "ViT-B-16",
            "--pretrained", ckpt, "--device", "cpu", "--datasets", "mini_toys", "--seeds", "1", "--no-progress",
            match=f"checkpoint {ckpt} does not fit open_clip's ViT-B-16")


def test_corrupt_checkpoint_on_resume(monkeypatch, capsys, tmp_path):
    runs = tmp_path / "runs"
    argv = ["base2novel", "--methods", "coop", "--datasets", "mini_toys", "--seeds", "1", "--split", "val",
            "--epochs", "2", "--no-progress", "--runs-dir", runs]
    monkeypatch.setattr(sys, "argv", ["dpt", *map(str, argv), "--out", str(tmp_path / "first.json")])
    dispatch()  # a finished run leaves its checkpoint in --runs-dir
    ckpt = next(runs.glob("*/checkpoint.pt"))
    ckpt.write_bytes(b"not a checkpoint")
    out = tmp_path / "second.json"
    line = refused(monkeypatch, capsys, out, *argv, match=f"cannot resume from {ckpt}: the file is unreadable")
    assert f"rm {ckpt}" in line and not out.exists()


def test_course_with_a_missing_folder_fails(tmp_path):
    r = _dpt("course", tmp_path / "missing")
    assert r.returncode == 2 and r.stderr.strip() == f"error: notebook folder {tmp_path / 'missing'} does not exist; " \
        "run from the repository root or pass the folder that holds the course notebooks"


def test_non_finite_weights_after_the_last_step_fail_and_record_nothing(monkeypatch, tmp_path):
    from dpt.experiments.base2novel import run_benchmark
    from dpt.methods import CoOp
    from dpt.trainer import NonFiniteLoss
    steps = 0
    original = CoOp.loss

    def poisoned(self, x, y):  # finite losses, but the last step's gradient is NaN
        nonlocal steps
        steps += 1
        loss, terms = original(self, x, y)
        if steps == 12:  # 12 base classes x 16 shots / 32 = 6 steps an epoch, 2 epochs
            self.prompt_learner.ctx.register_hook(lambda g: torch.full_like(g, float("nan")))
        return loss, terms

    monkeypatch.setattr(CoOp, "loss", poisoned)
    out = tmp_path / "r.json"
    with pytest.raises(NonFiniteLoss, match="training ended with non-finite parameters"):
        run_benchmark(["coop"], ["mini_toys"], [1], out, split="val", train_overrides={"epochs": 2}, progress=False)
    assert issubclass(NonFiniteLoss, DptError) and steps == 12 and not out.exists()


def test_resume_after_a_kill_between_log_and_checkpoint_repeats_no_step(mini_random, tmp_path):
    from dpt.methods import build_method
    from dpt.trainer import TrainConfig, train
    g = torch.Generator().manual_seed(0)
    x, y = F.normalize(torch.randn(16, mini_random.embed_dim, generator=g), dim=-1), torch.arange(16) % 2
    cfg = TrainConfig(epochs=3, batch_size=8)
    m = build_method("coop", mini_random, ["red star", "blue ring"], "a photo of a {}.")
    train(m, x, y, cfg, out_dir=tmp_path, progress=False, stop_after_epoch=0)
    log = tmp_path / "log.jsonl"
    logged = log.read_text().splitlines()
    # killed after appending epoch 1's steps to the log, before its checkpoint was written
    log.write_text("\n".join(logged + [l.replace('"epoch": 0', '"epoch": 1') for l in logged]) + "\n")
    m2 = build_method("coop", mini_random, ["red star", "blue ring"], "a photo of a {}.")
    history = train(m2, x, y, cfg, out_dir=tmp_path, resume=True, progress=False)
    steps = [json.loads(l)["step"] for l in log.read_text().splitlines()]
    assert steps == [h["step"] for h in history] == list(range(6))


def _assets_digest():
    import hashlib
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((ROOT / "dpt" / "assets").iterdir())}


@pytest.mark.parametrize("argv, match", [
    ([], "the following arguments are required: --out"),
    (["--out", str(ROOT / "dpt" / "assets" / "miniclip.pt")], "is inside the package's assets"),
    (["--out", str(ROOT / "dpt" / "assets" / "miniclip.pt"), "--report-only"], "is inside the package's assets"),
])
def test_pretrain_never_writes_into_the_package(capsys, argv, match):
    from dpt.experiments import pretrain
    before = _assets_digest()
    with pytest.raises(SystemExit) as e:
        run_cli(pretrain.main, ["--steps", "1", "--corpus-size", "8", "--batch-size", "8", *argv])
    assert e.value.code == 2 and match in capsys.readouterr().err
    assert _assets_digest() == before


# ---- the table: one row per case; each must exit non-zero with one line and leave nothing behind ----
QUICK = ["--datasets", "mini_toys", "--seeds", "1", "--split", "val", "--no-progress"]


def _setup_files(tmp):
    """The files some cases point at, made before the case runs (so that their state can be compared after)."""
    (tmp / "nbs").mkdir()
    (tmp / "nbs" / "bad.ipynb").write_text("{")
    (tmp / "other.json").write_text('[1, 2, 3]')
    (tmp / "runs-file").write_text("a file, not a folder")
    (tmp / "malformed.json").write_text(json.dumps({"format": "dpt-results", "version": 1, "rows": [{"label": "x"}]}))
    fgvc = tmp / "data" / "fgvc_aircraft"
    fgvc.mkdir(parents=True)
    (fgvc / "variants.txt").write_text("707-320\n")
    make_dtd(tmp / "data")


CASES = [  # (id, command line after `python -m dpt`, fragment)
    ("option-no-method-reads", ["base2novel", "--methods", "coop", "--set", "mi_weight=0.5", *QUICK],
     "method option mi_weight is not read by coop; it is read by dpt"),
    ("n_ctx-against-ctx_init", ["base2novel", "--methods", "coop", "--set", "n_ctx=16", *QUICK],
     "n_ctx=16 does not match ctx_init 'a photo of a', which is 4 tokens"),
    ("seed-in-train-set", ["base2novel", "--methods", "coop", "--train-set", "seed=5", *QUICK],
     "the seed comes from --seeds"),
    ("seed-twice", ["base2novel", "--methods", "coop", "--datasets", "mini_toys", "--seeds", "1", "1", "--split", "val"],
     "seed 1 is given twice"),
    ("shots-beyond-the-images", ["base2novel", "--methods", "coop", "--shots", "100000", *QUICK],
     "shots=100000: no base class of mini_toys has that many training images (at most 24)"),
    ("nan-option", ["base2novel", "--methods", "dpt", "--set", "mi_weight=NaN", *QUICK], "give a finite number"),
    ("nan-critic-lr", ["base2novel", "--methods", "dpt", "--set", "critic_lr=NaN", *QUICK], "give a finite number"),
    ("only-warm-up", ["base2novel", "--methods", "coop", "--epochs", "1", *QUICK], "trains only at the warm-up lr"),
    ("warm-up-beyond-epochs", ["base2novel", "--methods", "coop", "--epochs", "3", "--train-set", "warmup_epochs=5",
                               *QUICK], "epochs=3 with warmup_epochs=5"),
    ("address-with-local", ["base2novel", "--methods", "coop", "--address", "1.2.3.4:6379", *QUICK],
     "--address configure the Ray engine"),
    ("num-cpus-with-local", ["base2novel", "--methods", "coop", "--num-cpus", "2", *QUICK],
     "--num-cpus configure the Ray engine"),
    ("ray-zero-cpus", ["base2novel", "--methods", "coop", "--engine", "ray", "--num-cpus", "0", *QUICK],
     "--num-cpus must be at least 1"),
    ("ray-nothing-listening", ["base2novel", "--methods", "coop", "--engine", "ray", "--address", "127.0.0.1:9",
                               *QUICK], "nothing answers at --address 127.0.0.1:9"),
    ("device-gpu", ["base2novel", "--methods", "coop", "--device", "gpu", *QUICK],
     "device 'gpu' is not a device; use device='cpu' (or 'cuda', 'cuda:N' on a GPU) (on the command line: --device cpu)"),
    ("seed-beyond-64-bits", ["base2novel", "--methods", "coop", "--datasets", "mini_toys", "--seeds",
                             "99999999999999999999999"], "seeds must be whole numbers from 0 to"),
    ("gpa-beyond-epochs", ["base2novel", "--methods", "promptsrc", "--set", "gpa_mean=50", *QUICK],
     "gpa_mean=50 lies outside the run's epochs 1..20"),
    ("runs-dir-is-a-file", ["base2novel", "--methods", "coop", "--runs-dir", "runs-file", *QUICK],
     "--runs-dir runs-file is a file"),
    ("views-without-views", ["base2novel", "--methods", "coop", "--augment", "online", "--views", "4", *QUICK],
     "--views goes with --augment views"),
    ("malformed-results-row", ["base2novel", "--methods", "coop", "--out", "malformed.json", *QUICK],
     "row 0 is malformed"),
    ("dataset-typo", ["base2novel", "--methods", "coop", "--datasets", "mini_tys"], "did you mean 'mini_toys'"),
    ("fgvc-without-lists", ["base2novel", "--methods", "zeroshot", "--datasets", "FGVCAircraft", "--data-root", "data",
                            "--seeds", "1"], "images_variant_train.txt"),
    ("tune-out-of-another-shape", ["tune", "--methods", "coop", "--out", "other.json", *QUICK[:-1]],
     "other.json exists and is not a tuning file: it is not replaced; choose another name"),
    ("tune-out-is-runs", ["tune", "--methods", "coop", "--out", "same.json", "--runs", "same.json", *QUICK[:-1]],
     "must be three different files"),
    ("tune-test-datasets-without-test-out", ["tune", "--methods", "coop", "--test-datasets", "mini_grainy", *QUICK[:-1]],
     "--test-datasets needs --test-out"),
    ("tune-reads-test", ["tune", "--methods", "coop", "--datasets", "mini_toys", "--split", "test"],
     "tuning reads the val split only"),
    ("info-unknown-option", ["info", "--verbose"], "unrecognized arguments: --verbose"),
    ("course-unknown-option", ["course", "--fast"], "unrecognized arguments: --fast"),
    ("course-corrupt-notebook", ["course", "nbs"], "nbs/bad.ipynb is not a readable notebook (NotJSONError)"),
    ("colab-missing-folder", ["colab", "no-such-folder"], "notebook folder no-such-folder does not exist"),
    ("colab-corrupt-notebook", ["colab", "nbs"], "is not a readable notebook"),
    ("compare-unknown-label", ["compare", "malformed.json"], "row 0 is malformed"),
    ("evaluate-missing-prompt", ["evaluate", "--prompts", "none.pt", "--datasets", "mini_toys"],
     "prompt file none.pt does not exist"),
    ("predict-nothing-to-do", ["predict", "--prompts", "none.pt"], "give images or folders to classify"),
    ("data-without-root", ["data"], "give the data root"),
    ("data-missing-dataset", ["data", "--data-root", "data", "--datasets", "EuroSAT"], "EuroSAT         missing"),
    ("pretrain-json-out", ["pretrain", "--out", "m.json"], "--out m.json must end in .pt"),
    ("pretrain-batch-zero", ["pretrain", "--out", "m.pt", "--batch-size", "0"], "must be a finite number above 0"),
    ("pretrain-lr-nan", ["pretrain", "--out", "m.pt", "--lr", "nan"], "must be a finite number above 0"),
    ("pretrain-threads-zero", ["pretrain", "--out", "m.pt", "--threads", "0"], "must be a finite number above 0"),
    ("pretrain-unwritable", ["pretrain", "--out", "/proc/m.pt"], "cannot write into /proc"),
]


def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _repo_state() -> dict:
    out = {}
    for sub in ("results", "notebooks", "dpt/assets", "figures"):
        out.update({str(p): p.stat().st_mtime_ns for p in sorted((ROOT / sub).rglob("*")) if p.is_file()})
    return out


@pytest.fixture(scope="module")
def repo_before():
    before = _repo_state()
    yield before
    assert _repo_state() == before, "a bad-input case changed the repository's results, notebooks or assets"


@pytest.mark.parametrize("case, argv, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_table(case, argv, fragment, tmp_path, monkeypatch, capsys, repo_before):
    _setup_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DPT_RESULTS", str(tmp_path / "results"))
    before = _tree(tmp_path)
    monkeypatch.setattr(sys, "argv", ["dpt", *argv])
    entry = dispatch
    with pytest.raises(SystemExit) as e:
        run_cli(entry, options=options_of_this_command)
    err = capsys.readouterr()
    text = err.err + err.out
    assert e.value.code not in (0, None), text
    assert "Traceback" not in text and fragment in text, text
    lines = [l for l in err.err.strip().splitlines() if not l.startswith("usage:") and not l.startswith(" ")]
    assert len(lines) <= 1, err.err  # one line (argparse's own errors come after its usage lines)
    assert _tree(tmp_path) == before, "the case created or changed a file"


def test_a_results_file_behind_a_link_stays_a_link_and_keeps_its_permissions(tmp_path):
    from dpt.experiments.base2novel import run_benchmark
    target = tmp_path / "real.json"
    run_benchmark(["zeroshot"], ["mini_toys"], [1], target, split="val", progress=False)
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    run_benchmark(["zeroshot"], ["mini_paints"], [1], link, split="val", progress=False)
    assert link.is_symlink() and len(json.loads(target.read_text())["rows"]) == 2
    assert (target.stat().st_mode & 0o777) == 0o640


def test_a_temp_file_left_by_a_killed_writer_is_removed_on_the_next_open(tmp_path):
    from dpt.experiments.store import ResultsStore
    out = tmp_path / "r.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from dpt.files import writer_tag
    host = writer_tag().split("@")[1]
    stale = tmp_path / f".r.json.{dead.stdout.strip()}@{host}.abcd.tmp"  # what a SIGKILL mid-write leaves
    stale.write_text("half a file")
    alive = tmp_path / f".r.json.{os.getpid()}@{host}.efgh.tmp"  # a writer still at work keeps its file
    alive.write_text("being written")
    elsewhere = tmp_path / f".r.json.{dead.stdout.strip()}@0000beef.ijkl.tmp"  # another machine's: its pid says
    elsewhere.write_text("being written there")  # nothing here
    ResultsStore(out)
    assert not stale.exists() and alive.exists() and elsewhere.exists()


def test_refusals_leave_no_lock_file_beside_the_results(monkeypatch, capsys, tmp_path):
    out = tmp_path / "r.json"
    refused(monkeypatch, capsys, out, *GRID, "--seeds", "1", "1", match="given twice")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("classnames, template, match", [
    ("red star", "a photo of a {}.", "the single string 'red star'"),
    (["red star", "red star"], "a photo of a {}.", "repeated: 'red star'"),
    (["red star", " "], "a photo of a {}.", "non-empty strings"),
    (["red star", "blue ring"], "a photo of a thing.", "exactly one '{}'"),
    ([], "a photo of a {}.", "empty class list"),
])
def test_the_librarys_entry_points_refuse_what_they_cannot_use(mini_random, classnames, template, match):
    from dpt.methods import build_method
    with pytest.raises(DptError, match=match):
        build_method("coop", mini_random, classnames, template)


def test_a_nan_method_weight_is_refused_by_the_config():
    from dpt.methods import MethodConfig
    with pytest.raises(DptError, match="mi_weight=nan must be a finite number"):
        MethodConfig.from_dict({"mi_weight": float("nan")})


def test_two_processes_cannot_train_the_same_run_folder(mini_random, tmp_path):
    from dpt.files import exclusive
    from dpt.methods import build_method
    from dpt.trainer import TrainConfig, train
    m = build_method("coop", mini_random, ["red star", "blue ring"], "a photo of a {}.")
    x, y = F.normalize(torch.randn(4, 128), dim=-1), torch.tensor([0, 1, 0, 1])
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sys, time; sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from dpt.files import exclusive
with exclusive(Path({str(tmp_path)!r})):
    print("held", flush=True); time.sleep(30)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DptError, match="another process is training this run"):
            train(m, x, y, TrainConfig(epochs=2, batch_size=4), out_dir=tmp_path, progress=False)
    finally:
        holder.kill()
        holder.wait()
    with exclusive(tmp_path):
        pass  # released with its holder
