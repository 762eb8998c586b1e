"""The course on the real profile, rehearsed on a CPU: notebooks 00-02 run top to bottom on a random-initialised
ViT-B-16 checkpoint and CoOp-layout fixture folders of the real profile's two course datasets, and no miniature
dataset is touched on the way. And the setup's choices: the fallback said in the first line, the environment
variables that choose device, datasets and budget."""
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from conftest import make_benchmark

ROOT = Path(__file__).resolve().parents[1]
REHEARSED = ["00_setup_and_tour", "01_zero_shot_clip", "02_soft_prompts_coop"]

# Every ClassificationDataset the kernel builds, by name (a miniature one would be a mini_* or obj_* name)
SPY = '''
import json, os
from dpt.data import dataset as _d
_init = _d.ClassificationDataset.__post_init__
def _spy(self):
    with open(os.environ["DPT_TOUCHED_LOG"], "a") as f:
        f.write(json.dumps(self.name) + "\\n")
    _init(self)
_d.ClassificationDataset.__post_init__ = _spy
'''


@pytest.fixture(scope="module")
def real_course(tmp_path_factory, vit_b16_random):
    tmp = tmp_path_factory.mktemp("real-course")
    torch.save(vit_b16_random.model.state_dict(), tmp / "open_clip_pytorch_model.bin")
    make_benchmark(tmp / "data", "DTD", ("banded", "braided", "bubbly", "bumpy"))
    make_benchmark(tmp / "data", "OxfordPets", ("abyssinian", "beagle", "boxer", "pug"))
    (tmp / "spy").mkdir()
    (tmp / "spy" / "sitecustomize.py").write_text(SPY)
    return tmp


def test_notebooks_run_on_the_real_profile_without_touching_the_miniature(real_course, monkeypatch):
    from nbclient import NotebookClient
    tmp = real_course
    env = {"DPT_PROFILE": "real", "DPT_DEVICE": "cpu", "DPT_DATA": tmp / "data",
           "DPT_PRETRAINED": tmp / "open_clip_pytorch_model.bin", "DPT_EPOCHS": 2, "DPT_SHOTS": 2,
           "DPT_FIGURES": tmp / "figures", "DPT_RESULTS": tmp / "results", "DPT_CACHE": tmp / "cache",
           "DPT_TOUCHED_LOG": tmp / "touched.jsonl",
           "PYTHONPATH": os.pathsep.join([str(tmp / "spy"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for k, v in env.items():
        monkeypatch.setenv(k, str(v))
    committed = {p: p.stat().st_mtime_ns for p in (ROOT / "figures").rglob("*.png")}
    for name in REHEARSED:
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
        setup_cell = next(c for c in nb.cells if c.cell_type == "code" and "P = setup()" in c.source)
        first = setup_cell.outputs[0]["text"].splitlines()[0]
        assert first.startswith("Profile(real: backbone ViT-B-16") and "device cpu, epochs 2, 2 shots" in first, first
    touched = {json.loads(l) for l in (tmp / "touched.jsonl").read_text().splitlines()}
    assert touched == {"DTD", "OxfordPets"}, touched  # the course's datasets (and their base/novel halves) only
    assert {p.name for p in (tmp / "figures").glob("*.png")} >= {"datasets.png", "coop_loss.png"}
    assert {p: p.stat().st_mtime_ns for p in (ROOT / "figures").rglob("*.png")} == committed
    rows = [r for f in (tmp / "results").rglob("*.json") for r in json.loads(f.read_text()).get("rows", [])]
    assert all(r["identity"]["backbone"] == "ViT-B-16" for r in rows if "identity" in r)


def _setup(monkeypatch, capsys, **env):
    from dpt.experiments.course import setup
    for k in ("DPT_PROFILE", "DPT_DEVICE", "DPT_DATA", "DPT_DATASETS", "DPT_EPOCHS", "DPT_SHOTS"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, str(v))
    course = setup()
    return course, capsys.readouterr().out.splitlines()


def test_a_real_request_that_cannot_be_met_says_so_first(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    course, lines = _setup(monkeypatch, capsys, DPT_PROFILE="real")
    assert course.is_miniature and lines[0].startswith("Running on the offline miniature, not real CLIP: it needs a "
                                                       "CUDA GPU") and "DPT_DEVICE=cpu" in lines[0]
    course, lines = _setup(monkeypatch, capsys, DPT_PROFILE="real", DPT_DEVICE="cpu", DPT_DATA=tmp_path)
    assert course.is_miniature and "DTD and OxfordPets are not under DPT_DATA" in lines[0], lines
    make_benchmark(tmp_path, "DTD", ("banded", "braided"))
    course, lines = _setup(monkeypatch, capsys, DPT_PROFILE="real", DPT_DEVICE="cpu", DPT_DATA=tmp_path)
    assert "OxfordPets is not under" in lines[0] and "DTD" not in lines[0].split(":")[1], lines


def test_the_environment_chooses_device_datasets_and_budget(monkeypatch, capsys, tmp_path):
    make_benchmark(tmp_path, "EuroSAT", ("forest", "river", "sea lake", "highway"))
    course, lines = _setup(monkeypatch, capsys, DPT_PROFILE="real", DPT_DEVICE="cpu", DPT_DATA=tmp_path,
                           DPT_DATASETS="eurosat", DPT_EPOCHS=3, DPT_SHOTS=4)
    assert not course.is_miniature and course.datasets == ["EuroSAT"] and course.device == "cpu"
    cfg = course.train_config("coop")
    assert (cfg.epochs, cfg.batch_size, course.profile.shots) == (3, 32, 4)  # the recipe's batch, the budget's epochs
    assert course.run_config("kgcoop").train.epochs == 3 and course.run_config("kgcoop").shots == 4
    assert lines == ["Profile(real: backbone ViT-B-16 (openai), datasets EuroSAT, device cpu, epochs 3, 4 shots)"]
    with pytest.raises(Exception, match="not a dataset of the real profile"):
        course.dataset("mini_toys")
    with pytest.raises(Exception, match="DPT_EPOCHS='none': give a whole number"):
        _setup(monkeypatch, capsys, DPT_PROFILE="real", DPT_EPOCHS="none")


def test_the_miniature_course_is_as_before(monkeypatch, capsys):
    course, lines = _setup(monkeypatch, capsys)
    assert course.is_miniature and course.datasets == ["mini_toys", "mini_paints", "mini_stamps"]
    assert lines == [repr(course)] and course.profile.budget == {}
    assert course.figures == ROOT / "figures"
    with pytest.raises(Exception, match="not a dataset of the miniature-v1 profile"):
        course.dataset("DTD")
