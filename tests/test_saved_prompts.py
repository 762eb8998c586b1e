"""Learned prompts you can keep and use: save -> load -> evaluate reproduces the stored row exactly for
every method; other weights are refused; an exported head gives the same predictions in plain open_clip; predict
names an unreadable image and goes on."""
import json

import pytest
import torch

from dpt.experiments.base2novel import run_benchmark
from dpt.errors import BadInput
from dpt.methods import METHODS
from dpt.experiments.prompt_files import export_head, head_logits, load_head
from dpt.experiments.saved import load_prompts
from conftest import dpt_command

LEARNERS = [m for m in METHODS if METHODS[m].learns]
QUICK = dict(datasets=["mini_toys"], seeds=[1], split="val", shots=2, progress=False, train_overrides={"epochs": 2})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One quick run of every method that learns, each with its prompt file."""
    tmp = tmp_path_factory.mktemp("prompts")
    rows = {}
    for m in LEARNERS:
        overrides = {"gpa_mean": 2.0} if m == "promptsrc" else {}
        [row] = run_benchmark([m], out=tmp / "rows.json", save_prompts=tmp / "files", method_overrides=overrides,
                              cache_dir=tmp / "cache", **QUICK)
        rows[m] = row
    return tmp, rows


cli = dpt_command


@pytest.mark.slow
@pytest.mark.parametrize("method", LEARNERS)
def test_save_load_evaluate_reproduces_the_stored_row_exactly(trained, method, monkeypatch, capsys):
    tmp, rows = trained
    row = rows[method]
    [file] = (tmp / "files").glob(f"{method}-mini_toys-seed1-{row['run_id']}.pt")
    out = tmp / f"eval-{method}.json"
    code, io = cli(monkeypatch, capsys, "evaluate", "--prompts", file, "--datasets", "mini_toys", "--split", "val",
                   "--out", out, "--cache-dir", tmp / "cache", "--no-progress")
    assert code == 0, io.err
    [ev] = json.loads(out.read_text())["rows"]
    assert (ev["base"], ev["novel"], ev["hm"]) == (row["base"], row["novel"], row["hm"])
    assert ev["correct"] == row["correct"]  # the same images right, one by one
    assert ev["prompt_file"] == file.name and ev["identity"]["trained"] == row["identity"]


def test_an_evaluation_is_reused_and_other_datasets_are_scored_on_all_their_classes(trained, monkeypatch, capsys):
    tmp, rows = trained
    [file] = (tmp / "files").glob("coop-*.pt")
    out = tmp / "eval-other.json"
    args = ["evaluate", "--prompts", file, "--datasets", "mini_paints", "--split", "val", "--out", out,
            "--cache-dir", tmp / "cache", "--no-progress"]
    assert cli(monkeypatch, capsys, *args)[0] == 0
    [ev] = json.loads(out.read_text())["rows"]
    assert ev["source"] == "mini_toys" and ev["target"] == "mini_paints" and 0 <= ev["accuracy"] <= 100
    before = out.read_bytes()
    assert cli(monkeypatch, capsys, *args)[0] == 0 and out.read_bytes() == before  # reused, not added again


def test_a_prompt_on_other_weights_is_refused(trained, mini_random):
    tmp, _ = trained
    [file] = (tmp / "files").glob("dpt-*.pt")
    with pytest.raises(BadInput, match="a prompt means nothing on other weights"):
        load_prompts(file, backbone=mini_random)


def test_the_exported_head_gives_dpts_predictions_in_plain_open_clip(trained, miniclip, tmp_path):
    from dpt.data import load_miniature
    tmp, _ = trained
    [file] = (tmp / "files").glob("kgcoop-*.pt")
    saved = load_prompts(file, backbone=miniclip)
    head = load_head(export_head(saved, tmp_path / "head.pt"))
    ds = load_miniature("mini_toys", per_class={"train": 1, "val": 1, "test": 2})
    images = torch.stack([miniclip.preprocess(ds.load_image(it)) for it in ds.test])
    plain = head_logits(miniclip.model, head, images).argmax(-1)  # open_clip's own encode_image, nothing of dpt
    ours = saved.probabilities(images).argmax(-1)
    assert torch.equal(plain, ours) and head["classnames"] == saved.classnames
    with pytest.raises(BadInput, match="no fixed head"):
        export_head(load_prompts(next((tmp / "files").glob("cocoop-*.pt")), backbone=miniclip), tmp_path / "x.pt")


def test_predict_names_an_unreadable_image_and_goes_on(trained, tmp_path, monkeypatch, capsys):
    """A corrupt image and a file that is no image are each named in one line on stderr (above the progress bar,
    never inside a warning's file:line), and the rest is classified."""
    from dpt.data import load_miniature
    tmp, _ = trained
    [file] = (tmp / "files").glob("coop-*.pt")
    ds = load_miniature("mini_toys", per_class={"train": 1, "val": 1, "test": 1})
    folder = tmp_path / "images"
    folder.mkdir()
    for i in (0, 13):
        ds.load_image(ds.test[i]).save(folder / f"img{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("a note")
    code, io = cli(monkeypatch, capsys, "predict", "--prompts", file, folder, "--top-k", "2", "--json")
    assert code == 0, io.err
    lines = [json.loads(l) for l in io.out.splitlines()]
    assert [l["image"].split("/")[-1] for l in lines] == ["img0.png", "img13.png"]
    assert all(len(l["top"]) == 2 and l["top"][0]["p"] >= l["top"][1]["p"] for l in lines)
    skipped = [l for l in io.err.splitlines() if l.startswith("skipped")]
    assert len(skipped) == 2 and "Warning" not in io.err
    assert any("broken.png: it cannot be read as an image" in l for l in skipped)
    assert any("notes.txt: not an image file" in l for l in skipped)


def test_predict_with_nothing_to_classify_is_an_error(trained, tmp_path, monkeypatch, capsys):
    tmp, _ = trained
    [file] = (tmp / "files").glob("coop-*.pt")
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "broken.png").write_bytes(b"not an image")
    (tmp_path / "only" / "notes.txt").write_text("a note")
    for target in (tmp_path / "only", tmp_path / "only" / "notes.txt"):
        code, io = cli(monkeypatch, capsys, "predict", "--prompts", file, target, "--no-progress")
        assert code == 2 and "nothing could be classified" in io.err and "Traceback" not in io.err, io.err


def test_predict_classes_before_the_images_are_not_swallowed(trained, tmp_path, monkeypatch, capsys):
    """`--classes a b some.png` would take the image as a class name: refused with the fix; with the images first,
    or after --, it works."""
    from dpt.data import load_miniature
    tmp, _ = trained
    [file] = (tmp / "files").glob("coop-*.pt")
    img = tmp_path / "some.png"
    ds = load_miniature("mini_toys", per_class={"train": 1, "val": 1, "test": 1})
    ds.load_image(ds.test[0]).save(img)
    code, io = cli(monkeypatch, capsys, "predict", "--prompts", file, "--classes", "red bead", "blue bead", img)
    assert code == 2 and "put the images before --classes" in io.err, io.err
    for argv in ([img, "--classes", "red bead", "blue bead"], ["--classes", "red bead", "blue bead", "--", img]):
        code, io = cli(monkeypatch, capsys, "predict", "--json", "--no-progress", "--prompts", file, *argv)
        assert code == 0, io.err
        [line] = [json.loads(l) for l in io.out.splitlines()]
        assert {t["class"] for t in line["top"]} == {"red bead", "blue bead"}


def test_predict_with_new_class_names(trained, miniclip):
    tmp, _ = trained
    [file] = (tmp / "files").glob("dpt-*.pt")
    saved = load_prompts(file, backbone=miniclip).with_classes(["red bead", "blue bead"])
    assert saved.classnames == ["red bead", "blue bead"] and saved.probabilities(torch.zeros(1, 3, 48, 48)).shape == (1, 2)
