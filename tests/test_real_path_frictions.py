"""The real path as a researcher meets it, the frictions one at a time: downloads without a network, datasets
torchvision cannot fetch, every missing dataset at once, `dpt data` as a report, the weights of a prompt file,
the commands' environment defaults, errors that name only options the command has, and compare's order."""
import json
import socket
from pathlib import Path

import pytest
import torch

from conftest import dpt_command, make_benchmark
from dpt.experiments.command_line import for_the_command_line


cli = dpt_command


def offline(monkeypatch):
    def no_network(*a, **k):
        raise socket.gaierror(-2, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", no_network)


@pytest.mark.parametrize("name", ["Flowers102", "DTD"])
def test_a_download_without_a_network_is_one_line_and_leaves_no_folder(name, tmp_path, monkeypatch, capsys):
    offline(monkeypatch)
    root = tmp_path / "data"
    code, io = cli(monkeypatch, capsys, "base2novel", "--profile", "real", "--device", "cpu", "--data-root", root,
                   "--datasets", name, "--methods", "zeroshot", "--seeds", "1", "--download", "--no-progress")
    lines = io.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in io.err, io.err
    assert f"could not download {name} with torchvision" in lines[0] and "Name or service not known" in lines[0]
    assert not root.exists()  # nor any empty folder inside it


def test_a_download_into_an_existing_root_keeps_what_was_there(tmp_path, monkeypatch):
    from dpt.experiments.datasets import load_benchmark
    from dpt.errors import MissingData
    offline(monkeypatch)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    with pytest.raises(MissingData, match="could not download Food101"):
        load_benchmark("Food101", tmp_path, download=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"] and (tmp_path / "mine" / "keep.txt").exists()


def test_datasets_torchvision_cannot_download_are_never_offered_it(tmp_path, monkeypatch):
    """StanfordCars (torchvision's URL is gone) and EuroSAT: no "download=True" offer, and asked to download, the
    message says torchvision cannot; a missing folder is never reported as a missing scipy."""
    from dpt.experiments.datasets import load_benchmark
    from dpt.errors import MissingData
    for name in ("StanfordCars", "EuroSAT"):
        with pytest.raises(MissingData) as e:
            load_benchmark(name, tmp_path)
        assert "download=True" not in str(e.value) and "cipy" not in str(e.value)
        with pytest.raises(MissingData, match="torchvision cannot fetch it"):
            load_benchmark(name, tmp_path, download=True)
    with pytest.raises(MissingData) as e:
        load_benchmark("DTD", tmp_path)
    assert "download=True to let torchvision fetch it" in str(e.value)


def test_every_missing_dataset_of_a_grid_is_named_at_once(tmp_path, monkeypatch, capsys):
    make_benchmark(tmp_path, "DTD", ("banded", "braided"))
    code, io = cli(monkeypatch, capsys, "base2novel", "--profile", "real", "--device", "cpu", "--data-root", tmp_path,
                   "--datasets", "DTD", "EuroSAT", "UCF101", "SUN397", "--methods", "zeroshot", "--seeds", "1")
    assert code == 2 and "3 datasets are not under data root" in io.err and "EuroSAT, UCF101, SUN397" in io.err
    assert "DTD" not in io.err.split(":", 2)[2] and len(io.err.strip().splitlines()) == 1


def test_dpt_data_is_a_short_report(tmp_path, monkeypatch, capsys):
    make_benchmark(tmp_path, "DTD", ("banded", "braided"))
    code, io = cli(monkeypatch, capsys, "data", "--data-root", tmp_path)
    lines = io.out.splitlines()
    assert code == 0 and "python -m dpt data" not in io.out  # a report: exit 0, and never points at itself
    assert len(lines) <= 2 + 15 + 15 and all(len(l) <= 160 for l in lines[:17])
    assert any(l.split()[:2] == ["DTD", "found"] for l in lines) and "1 of 15 found" in io.out
    code, io = cli(monkeypatch, capsys, "data", "--data-root", tmp_path, "--datasets", "DTD", "EuroSAT")
    assert code == 1 and "1 of 2 found" in io.out  # asked about these two: a script can test the status
    code, io = cli(monkeypatch, capsys, "data", "--data-root", tmp_path, "--datasets", "DTD")
    assert code == 0 and "all 1 found" in io.out


def test_a_prompt_file_loads_with_the_weights_it_records(tmp_path, monkeypatch, miniclip):
    """The file names the checkpoint it was trained with: load_prompts (and evaluate, predict) use it where it is
    here, the default weights where it is not, and the fingerprint confirms either."""
    from dpt.backbones import load_backbone
    from dpt.data import load_miniature, subsample_classes
    from dpt.methods import build_method
    from dpt.experiments.saved import load_prompts, read_prompt_file, recorded_weights, save_prompts
    ckpt = tmp_path / "mine.pt"
    torch.save(miniclip.model.state_dict(), ckpt)
    bb = load_backbone("miniclip", pretrained=str(ckpt))
    ds = subsample_classes(load_miniature("mini_toys"), "base")
    path = save_prompts(build_method("coop", bb, ds.classnames, ds.template), tmp_path / "coop.pt")
    doc = read_prompt_file(path)
    assert doc["weights_source"] == str(ckpt) and recorded_weights(doc) == str(ckpt)
    assert load_prompts(path).method.backbone.weights == str(ckpt)
    ckpt.unlink()
    assert recorded_weights(doc) == "default" and load_prompts(path).classnames == list(ds.classnames)
    vit = {**doc, "backbone": "ViT-B-16", "weights_source": "/elsewhere/open_clip_pytorch_model.bin"}
    assert recorded_weights(vit, "/here/vit.bin") == "/here/vit.bin"  # the commands pass $DPT_PRETRAINED
    assert recorded_weights(vit) == "default" and recorded_weights({**vit, "weights_source": "openai"}) == "openai"
    assert recorded_weights({**vit, "weights_source": "random-init"}) is None


def test_errors_name_only_the_options_the_command_has():
    message = ("could not load weights 'openai' for ViT-B-16. What to do: pass its file path: "
               "load_backbone('ViT-B-16', pretrained=PATH); or the 'miniature' profile")
    assert "--profile miniature" in for_the_command_line(message)
    evaluate = {"--pretrained", "--device", "--prompts"}
    said = for_the_command_line(message, evaluate)
    assert "--pretrained PATH" in said and "--profile" not in said


def test_the_first_line_of_a_long_cause_is_cut_at_a_word():
    from dpt.errors import cause
    text = cause(RuntimeError("An error happened " + "while loading the weights " * 20))
    assert text.startswith("RuntimeError: An error happened") and text.endswith(" …")
    assert text[:-2].split()[-1] in "while loading the weights".split()


def test_the_commands_read_the_notebooks_variables(tmp_path, monkeypatch, capsys):
    """DPT_DEVICE everywhere; DPT_EPOCHS and DPT_SHOTS on the real profile only (the miniature's commands keep its
    schedules, as its notebooks do, so a rehearsal's variables never add rows to its committed results); the
    command line wins; a bad value is one line. (The real profile's rows: tests/test_readme_blocks.py.)"""
    import argparse
    from dpt.experiments.options import environment_defaults
    monkeypatch.setenv("DPT_EPOCHS", "2")
    monkeypatch.setenv("DPT_SHOTS", "3")
    monkeypatch.setenv("DPT_DEVICE", "cpu")
    real = argparse.Namespace(profile="real", device=None, epochs=None, shots=None)
    environment_defaults(real)
    assert (real.device, real.epochs, real.shots) == ("cpu", 2, 3)
    assert "note: --device cpu (from DPT_DEVICE), --epochs 2 (from DPT_EPOCHS), --shots 3 (from DPT_SHOTS)" in \
        capsys.readouterr().out
    given = argparse.Namespace(profile="real", device="cpu", epochs=5, shots=None)
    environment_defaults(given)
    assert (given.epochs, given.shots) == (5, 3) and "DPT_EPOCHS" not in capsys.readouterr().out
    out = tmp_path / "r.json"
    code, io = cli(monkeypatch, capsys, "base2novel", "--methods", "coop", "--datasets", "mini_toys", "--seeds", "1",
                   "--split", "val", "--out", out, "--no-progress")
    assert code == 0 and "DPT_EPOCHS" not in io.out and "--device cpu (from DPT_DEVICE)" in io.out, io.err
    [row] = json.loads(out.read_text())["rows"]
    assert row["identity"]["train"]["epochs"] == 30 and row["identity"]["shots"] == 16  # the miniature's own
    monkeypatch.setenv("DPT_EPOCHS", "two")
    code, io = cli(monkeypatch, capsys, "base2novel", "--profile", "real", "--methods", "coop", "--datasets", "DTD",
                   "--seeds", "1")
    assert code == 2 and "DPT_EPOCHS='two'" in io.err


def test_compare_keeps_the_order_it_was_given(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.json"
    code, io = cli(monkeypatch, capsys, "base2novel", "--methods", "zeroshot", "kgcoop", "coop", "--datasets",
                   "mini_toys", "mini_paints", "--seeds", "1", "--split", "val", "--epochs", "2", "--out", out,
                   "--no-progress")
    assert code == 0, io.err
    table = io.out[io.out.rindex("\nmethod "):].splitlines()[2:]  # the table printed at the end
    order = [l.split()[:2] for l in table if l.strip() and not l.startswith("mean")]
    assert [m for m, d in order if d == "mini_toys"] == ["zeroshot", "kgcoop", "coop"]
    assert [d for m, d in order if m == "coop"] == ["mini_toys", "mini_paints", "average"]
    code, io = cli(monkeypatch, capsys, "compare", out, "--split", "val", "--methods", "coop", "zeroshot",
                   "--datasets", "mini_paints", "mini_toys")
    rows = [l.split()[:2] for l in io.out.splitlines()[1:] if l.strip() and not l.startswith("mean")]
    assert code == 0 and rows == [["coop", "mini_paints"], ["zeroshot", "mini_paints"], ["coop", "mini_toys"],
                                  ["zeroshot", "mini_toys"], ["coop", "average"], ["zeroshot", "average"]], io.out


def test_a_coop_folder_without_its_split_file_is_not_blamed_on_torchvision(tmp_path):
    """DTD's CoOp folder and torchvision's share the name dtd/: only torchvision's own layout (dtd/dtd) sends the
    error to torchvision; a CoOp folder without its split file is told what it lacks."""
    from dpt.experiments.datasets import load_benchmark
    from dpt.errors import MissingData
    (tmp_path / "dtd" / "images").mkdir(parents=True)
    with pytest.raises(MissingData, match="split_zhou_DescribableTextures.json") as e:
        load_benchmark("DTD", tmp_path)
    assert "torchvision could not read" not in str(e.value)
    (tmp_path / "dtd" / "dtd").mkdir()
    with pytest.raises(MissingData, match="torchvision could not read"):
        load_benchmark("DTD", tmp_path)


def test_dpt_data_calls_an_unreadable_folder_broken(tmp_path, monkeypatch, capsys):
    (tmp_path / "dtd" / "dtd").mkdir(parents=True)
    code, io = cli(monkeypatch, capsys, "data", "--data-root", tmp_path, "--datasets", "DTD")
    assert code == 1 and "DTD             BROKEN   DTD: torchvision could not read" in io.out


def test_missing_datasets_without_a_root_are_all_named():
    from dpt.experiments.datasets import load_datasets
    from dpt.errors import MissingData
    with pytest.raises(MissingData, match="DTD, EuroSAT need a data root"):
        load_datasets(["DTD", "EuroSAT"], root=None)


def test_a_download_request_names_what_torchvision_cannot_fetch_before_any_download(tmp_path, monkeypatch):
    from dpt.experiments.datasets import load_datasets
    from dpt.errors import MissingData
    offline(monkeypatch)
    with pytest.raises(MissingData, match="EuroSAT not found.*torchvision cannot fetch it") as e:
        load_datasets(["DTD", "EuroSAT"], root=tmp_path, download=True)
    assert "could not download" not in str(e.value) and not (tmp_path / "dtd").exists()


def test_a_failed_grid_leaves_no_empty_folder(tmp_path, monkeypatch, capsys):
    code, io = cli(monkeypatch, capsys, "base2novel", "--profile", "real", "--device", "cpu", "--data-root", tmp_path,
                   "--datasets", "DTD", "--methods", "coop", "--seeds", "1", "--runs-dir", tmp_path / "runs",
                   "--save-prompts", tmp_path / "prompts")
    assert code == 2 and sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_real_course_refuses_miniature_datasets(monkeypatch, capsys):
    from dpt.errors import BadInput
    from dpt.experiments.course import setup
    monkeypatch.setenv("DPT_PROFILE", "real")
    monkeypatch.setenv("DPT_DATASETS", "mini_toys")
    with pytest.raises(BadInput, match="DPT_DATASETS names mini_toys"):
        setup()


def test_predict_opens_a_file_given_by_name_whatever_its_suffix(tmp_path, monkeypatch, capsys, miniclip):
    from dpt.data import load_miniature, subsample_classes
    from dpt.methods import build_method
    from dpt.experiments.saved import save_prompts
    ds = subsample_classes(load_miniature("mini_toys", per_class={"train": 1, "val": 1, "test": 1}), "base")
    prompt = save_prompts(build_method("coop", miniclip, ds.classnames, ds.template), tmp_path / "p.pt")
    ds.load_image(ds.test[0]).save(tmp_path / "picture.data", format="PNG")
    code, io = cli(monkeypatch, capsys, "predict", "--prompts", prompt, tmp_path / "picture.data", "--json")
    assert code == 0 and json.loads(io.out.splitlines()[0])["image"].endswith("picture.data"), io.err
