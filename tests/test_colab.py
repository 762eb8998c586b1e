"""Every notebook carries the Colab badge and install cell built from one constant (dpt.experiments.colab.REPOSITORY)."""
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dpt.experiments import colab

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_badge_and_install_cell_agree_with_the_repository(path):
    nb = nbformat.read(path, as_version=4)
    assert colab.badge(path.name) in nb.cells[0].source
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == colab.install_cell()
    assert colab.REPOSITORY in first_code.source and colab.REPOSITORY.removeprefix("https://github.com/") in nb.cells[0].source
    assert "run this first" not in nb.cells[0].source  # no hand-copied install line left


def test_install_cell_is_a_no_op_where_dpt_imports(tmp_path):
    """Run for real, in a fresh interpreter where dpt imports and PATH is empty: had the cell tried to clone or
    install (git, pip), it would fail. (The clone-and-install path needs GitHub and writes /content: it runs in
    Colab only.)"""
    script = tmp_path / "cell.py"
    script.write_text(colab.install_cell() + "\nimport os; print(os.getcwd())\n")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "", "PYTHONPATH": str(Path(colab.__file__).resolve().parents[2])}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path)  # no chdir into /content/dpt


def test_a_new_address_reaches_badge_and_install_cell(tmp_path, monkeypatch):
    path = tmp_path / NOTEBOOKS[0].name
    shutil.copy(NOTEBOOKS[0], path)
    monkeypatch.setattr(colab, "REPOSITORY", "https://github.com/someone/elsewhere")
    assert colab.apply(path) and not colab.apply(path)  # updated once, then up to date
    nb = nbformat.read(path, as_version=4)
    assert "github/someone/elsewhere/blob/main/notebooks/" in nb.cells[0].source
    assert "dpt-project" not in nb.cells[0].source
    assert sum(c.source.startswith(colab.INSTALL_MARKER) for c in nb.cells) == 1
    assert "https://github.com/someone/elsewhere" in next(c for c in nb.cells if c.cell_type == "code").source


def test_the_real_clip_switch_sets_the_profile_on_a_gpu_and_stays_put_without_one(tmp_path, monkeypatch, capsys):
    """use_real_clip (the install cell's REAL_CLIP): datasets already in the folder are not downloaded again, the
    profile's variables are set, and the notebook's setup() then runs on real CLIP; without a GPU nothing is set."""
    import os

    import torch

    from conftest import make_benchmark
    from dpt.experiments.course import setup
    for k in ("DPT_PROFILE", "DPT_DATA", "DPT_DATASETS", "DPT_EPOCHS", "DPT_DEVICE"):  # restored after the test,
        monkeypatch.setenv(k, "")                                                    # whatever use_real_clip sets
        monkeypatch.delenv(k)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not colab.use_real_clip("DTD", 5, str(tmp_path))
    assert "needs a GPU runtime" in capsys.readouterr().out and "DPT_PROFILE" not in os.environ
    make_benchmark(tmp_path, "DTD", ("banded", "braided"))
    make_benchmark(tmp_path, "OxfordPets", ("beagle", "pug"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Tesla T4")
    assert colab.use_real_clip("dtd, oxford_pets", 3, str(tmp_path))
    assert "DTD, OxfordPets in" in capsys.readouterr().out
    assert (os.environ["DPT_PROFILE"], os.environ["DPT_DATASETS"], os.environ["DPT_EPOCHS"]) == (
        "real", "DTD OxfordPets", "3")
    course = setup()
    assert course.name == "real" and course.datasets == ["DTD", "OxfordPets"] and course.device == "cuda"
    assert course.train_config("maple").epochs == 3
    with pytest.raises(Exception, match="EuroSAT not found"):  # torchvision cannot fetch it: named, no download
        colab.use_real_clip("EuroSAT", 3, str(tmp_path))
