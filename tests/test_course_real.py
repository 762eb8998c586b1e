"""The course on the real profile, rehearsed on a CPU: every notebook runs top to bottom on CoOp-layout fixture
folders of the real profile's two course datasets, and no miniature dataset is touched on the way (but by 08,
which shows the miniature's renderings on either profile). Notebooks
00-02 run on a random-initialised ViT-B-16 checkpoint; 03-08, which train every method over seeds, on open_clip's
ViT-B-16 given a narrow config in the kernel (12 layers, width 64: the same code paths, cheap enough for CI). And
the setup's choices: the fallback said in the first line, the variables that choose device, datasets, budget."""
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from conftest import make_benchmark

ROOT = Path(__file__).resolve().parents[1]
ON_VIT_B16 = ["00_setup_and_tour", "01_zero_shot_clip", "02_soft_prompts_coop"]
ON_NARROW_VIT = ["03_mutual_information", "04_classwise_augmentation", "05_dual_view_method",
                 "06_base_to_novel_benchmark", "07_analysis", "08_transfer_and_domains"]

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
NARROW_VIT = '''
import open_clip.factory as _f
_f._MODEL_CONFIGS["ViT-B-16"] = {"embed_dim": 64, "vision_cfg": {"image_size": 224, "layers": 12, "width": 64,
    "patch_size": 16, "head_width": 32}, "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64,
    "heads": 2, "layers": 12}}
'''


@pytest.fixture(scope="module")
def real_course(tmp_path_factory, vit_b16_random):
    tmp = tmp_path_factory.mktemp("real-course")
    torch.save(vit_b16_random.model.state_dict(), tmp / "open_clip_pytorch_model.bin")
    make_benchmark(tmp / "data", "DTD", ("banded", "braided", "bubbly", "bumpy"))
    make_benchmark(tmp / "data", "OxfordPets", ("abyssinian", "beagle", "boxer", "pug"))
    for name, code in (("spy", SPY), ("narrow", SPY + NARROW_VIT)):
        (tmp / name).mkdir()
        (tmp / name / "sitecustomize.py").write_text(code)
    import subprocess
    subprocess.run([sys.executable, "-c", f"import torch, open_clip; torch.save(open_clip.create_model('ViT-B-16')"
                    f".state_dict(), {str(tmp / 'narrow.bin')!r})"], check=True, timeout=300,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp / "narrow"), str(ROOT)]),
                        "DPT_TOUCHED_LOG": str(tmp / "unused.jsonl")})
    return tmp


@pytest.mark.parametrize("notebooks, narrow", [(ON_VIT_B16, False), (ON_NARROW_VIT, True)],
                         ids=["00-02 on ViT-B-16", "03-08 on a narrow ViT-B-16"])
def test_notebooks_run_on_the_real_profile_without_touching_the_miniature(real_course, monkeypatch, notebooks,
                                                                          narrow):
    from nbclient import NotebookClient
    tmp = real_course
    log = tmp / f"touched-{narrow}.jsonl"
    env = {"DPT_PROFILE": "real", "DPT_DEVICE": "cpu", "DPT_DATA": tmp / "data",
           "DPT_PRETRAINED": tmp / ("narrow.bin" if narrow else "open_clip_pytorch_model.bin"), "DPT_EPOCHS": 2,
           "DPT_SHOTS": 2, "DPT_FIGURES": tmp / "figures", "DPT_RESULTS": tmp / f"results-{narrow}",
           "DPT_CACHE": tmp / f"cache-{narrow}", "DPT_TOUCHED_LOG": log,
           "PYTHONPATH": os.pathsep.join([str(tmp / ("narrow" if narrow else "spy")), str(ROOT),
                                          os.environ.get("PYTHONPATH", "")])}
    for k, v in env.items():
        monkeypatch.setenv(k, str(v))
    committed = {p: p.stat().st_mtime_ns for p in (ROOT / "figures").rglob("*.png")}
    for name in notebooks:
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
        setup_cell = next(c for c in nb.cells if c.cell_type == "code"
                          and "P = course.setup()" in c.source)
        first = setup_cell.outputs[0]["text"].splitlines()[0]
        assert first.startswith("Profile(real: backbone ViT-B-16") and "device cpu, epochs 2, 2 shots" in first, first
        touched = {json.loads(l) for l in log.read_text().splitlines()} if log.exists() else set()
        if name != "08_transfer_and_domains":  # the course's datasets (and their base/novel halves) only
            assert touched <= {"DTD", "OxfordPets"}, (name, touched)
    # 08 asks what a new rendering does, which the real profile's datasets cannot show: it says so and shows the
    # miniature's renderings on either profile (and nothing else of the miniature)
    touched = {json.loads(l) for l in log.read_text().splitlines()}
    assert {"DTD", "OxfordPets"} <= touched, touched
    if narrow:
        assert all(n.startswith(("mini_colours", "mini_grainy", "mini_toys", "mini_paints", "mini_stamps"))
                   for n in touched - {"DTD", "OxfordPets"}), touched
    assert {p: p.stat().st_mtime_ns for p in (ROOT / "figures").rglob("*.png")} == committed
    rows = [r for f in (tmp / f"results-{narrow}").rglob("*.json") for r in json.loads(f.read_text()).get("rows", [])]
    assert all(r["identity"]["backbone"] == "ViT-B-16" for r in rows if "identity" in r)
    if narrow:
        assert {r["label"] for r in rows} >= {"zeroshot", "coop", "cocoop", "kgcoop", "prograd", "ivlp", "maple",
                                              "promptsrc", "dpt"}  # notebook 06's grid, every method
    else:
        assert {p.name for p in (tmp / "figures").glob("*.png")} >= {"datasets.png", "coop_loss.png"}


def _setup(monkeypatch, capsys, **env):
    from dpt.experiments.course import setup
    for k in ("DPT_PROFILE", "DPT_DEVICE", "DPT_DATA", "DPT_DATASETS", "DPT_EPOCHS", "DPT_SHOTS"):
        monkeypatch.setenv(k, "")
        monkeypatch.delenv(k)
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
