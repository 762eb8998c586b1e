"""The bad-input tail: what was accepted that cannot be honoured, and tracebacks where one line was due (the
library's entry points and the commands, each stopped before any work with what is wrong and what to do)."""
import json
from pathlib import Path

import pytest
import torch

from conftest import dpt_command, make_dtd, one_line
from dpt.errors import BadInput, DptError

GRID = ["base2novel", "--methods", "coop", "--datasets", "mini_toys", "--seeds", "1", "--split", "val",
        "--epochs", "2", "--no-progress"]


cli = dpt_command


@pytest.fixture(scope="module")
def class_specific_prompt(tmp_path_factory):
    from dpt.backbones import load_backbone
    from dpt.data import load_miniature, subsample_classes
    from dpt.methods import MethodConfig, build_method
    from dpt.experiments.saved import save_prompts
    ds = subsample_classes(load_miniature("mini_toys"), "base")
    method = build_method("coop", load_backbone("miniclip"), ds.classnames, ds.template,
                          MethodConfig(class_specific=True))
    return save_prompts(method, tmp_path_factory.mktemp("cs") / "cs.pt")


def test_class_specific_contexts_never_move_to_other_classes(class_specific_prompt, tmp_path, monkeypatch, capsys):
    """Base-to-novel (the novel half has as many classes as the base half: by count it would pass), evaluate on
    another dataset, predict --classes: each refused before any work."""
    out = tmp_path / "r.json"
    one_line(*cli(monkeypatch, capsys, *GRID, "--set", "class_specific=true", "--out", out),
             "class-specific contexts are tied to the classes")
    assert not out.exists()
    one_line(*cli(monkeypatch, capsys, "evaluate", "--prompts", class_specific_prompt, "--datasets", "mini_paints",
                  "--out", out), "class-specific contexts")
    one_line(*cli(monkeypatch, capsys, "predict", "--prompts", class_specific_prompt, "--classes", "a", "b", "--",
                  tmp_path), "class-specific contexts")


def test_duplicate_class_names_after_normalisation_are_refused(tmp_path, monkeypatch, capsys):
    from dpt.backbones import load_backbone
    from dpt.prompts import hand_crafted_features
    with pytest.raises(BadInput, match="'red_bead' and 'red bead'"):
        hand_crafted_features(load_backbone("miniclip"), ["red_bead", "red bead"], "a photo of a {}.")
    with pytest.raises(BadInput, match="both prompt as 'red bead'"):
        hand_crafted_features(load_backbone("miniclip"), ["red bead", "red  bead"], "a photo of a {}.")


@pytest.mark.parametrize("change, match", [
    (lambda s: s["test"].append([s["test"][0][0], -1, "banded"]), "label -1 is negative"),
    (lambda s: s["test"].__setitem__(0, [s["test"][0][0], 0, "striped"]), "label 0 is 'striped' here and 'banded'"),
])
def test_a_split_file_is_checked_against_its_classes_once(tmp_path, change, match):
    from dpt.experiments.datasets import load_benchmark
    make_dtd(tmp_path)
    path = tmp_path / "dtd" / "split_zhou_DescribableTextures.json"
    split = json.loads(path.read_text())
    change(split)
    path.write_text(json.dumps(split))
    with pytest.raises(BadInput, match=match):
        load_benchmark("DTD", tmp_path)


@pytest.fixture
def results(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.json"
    code, io = cli(monkeypatch, capsys, "base2novel", "--methods", "zeroshot", "--datasets", "mini_toys", "--seeds",
                   "1", "--split", "val", "--out", out, "--no-progress")
    assert code == 0, io.err
    return out


@pytest.mark.parametrize("damage, match", [
    (lambda r: r.__setitem__("hm", "high"), "has hm='high', not a number"),
    (lambda r: r.__setitem__("base", float("nan")), "has base=nan, not a number"),
    (lambda r: r["correct"]["base"].__setitem__("bits", "zz"), "corrupt per-image records"),
    (lambda r: r["correct"]["novel"].__setitem__("n", 10 ** 9), "corrupt per-image records"),
    (lambda r: r.__setitem__("correct", [1, 2]), "corrupt per-image records"),
])
def test_compare_on_a_malformed_row_is_one_line(results, damage, match, monkeypatch, capsys):
    doc = json.loads(results.read_text())
    damage(doc["rows"][0])
    results.write_text(json.dumps(doc).replace("NaN", "NaN"))
    one_line(*cli(monkeypatch, capsys, "compare", results, "--split", "val"), match)


def test_a_checkpoint_that_is_another_torch_object_is_one_line(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    code, io = cli(monkeypatch, capsys, *GRID, "--runs-dir", runs, "--out", tmp_path / "a.json")
    assert code == 0, io.err
    ckpt = next(runs.glob("*/checkpoint.pt"))
    torch.save(torch.zeros(3), ckpt)
    line = one_line(*cli(monkeypatch, capsys, *GRID, "--runs-dir", runs, "--out", tmp_path / "b.json"),
                    "it is not a dpt training checkpoint (a Tensor")
    assert f"rm {ckpt}" in line and not (tmp_path / "b.json").exists()


@pytest.mark.parametrize("change", [lambda p: p.__setitem__("stages", 3), lambda p: p.__setitem__("datasets", 5),
                                    lambda p: p["stages"][0].__setitem__("variants", 7),
                                    lambda p: p["stages"][0]["variants"][0].__setitem__("values", 2)])
def test_a_malformed_plan_is_one_line(tmp_path, change, monkeypatch, capsys):
    from test_search_plan import PLAN
    plan = json.loads(json.dumps(PLAN))
    change(plan)
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    code, io = cli(monkeypatch, capsys, "search", "--plan", tmp_path / "plan.json", "--out", tmp_path / "o.json")
    one_line(code, io, f"--plan {tmp_path / 'plan.json'}")


@pytest.mark.parametrize("text", ["{not json", '{"common": {}, "methods": []}', '{"common": 3}'])
def test_a_damaged_recipes_file_is_one_line(text, tmp_path, monkeypatch, capsys):
    from dpt.experiments import recipes
    damaged = tmp_path / "recipes.json"
    damaged.write_text(text)
    monkeypatch.setattr(recipes, "RECIPES_FILE", damaged)
    line = one_line(*cli(monkeypatch, capsys, "recipes"), "the recipes file")
    assert "git checkout dpt/experiments/recipes.json" in line


def test_a_transfer_source_that_names_several_datasets_is_one_line(monkeypatch, capsys, tmp_path):
    line = one_line(*cli(monkeypatch, capsys, "transfer", "--methods", "zeroshot", "--source", "miniature",
                         "--seeds", "1", "--out", tmp_path / "t.json"), "names 3 datasets")
    assert "--source NAME" in line


@pytest.mark.parametrize("make", [
    lambda: __import__("dpt.trainer", fromlist=["TrainConfig"]).TrainConfig(epochs="3"),
    lambda: __import__("dpt.trainer", fromlist=["TrainConfig"]).TrainConfig(lr=True),
    lambda: __import__("dpt.methods", fromlist=["MethodConfig"]).MethodConfig(class_specific="yes"),
    lambda: __import__("dpt.methods", fromlist=["MethodConfig"]).MethodConfig(n_ctx=4.0),
])
def test_library_configs_refuse_values_of_the_wrong_type(make):
    with pytest.raises(DptError, match="must be"):
        make()
