"""The library's entry points, as a notebook user calls them, on bad input: each stops with one DptError line that
says what is wrong (never a TypeError or KeyError from deep inside)."""
import pytest
import torch

from dpt.errors import DptError


def _mini():
    from dpt.backbones import load_backbone
    return load_backbone("miniclip")


CASES = {
    "load_backbone: unknown name": lambda: __import__("dpt.backbones", fromlist=["x"]).load_backbone("ViT-Q-99"),
    "load_backbone: cuda without a GPU": lambda: __import__("dpt.backbones", fromlist=["x"]).load_backbone(
        "miniclip", device="cuda:7"),
    "load_backbone: missing checkpoint": lambda: __import__("dpt.backbones", fromlist=["x"]).load_backbone(
        "ViT-B-16", pretrained="/nowhere/model.bin"),
    "load_dataset: unknown": lambda: __import__("dpt.data", fromlist=["x"]).load_dataset("mini_toyz"),
    "load_dataset: no root": lambda: __import__("dpt.data", fromlist=["x"]).load_dataset("DTD"),
    "build_method: unknown": lambda: __import__("dpt.methods", fromlist=["x"]).build_method(
        "coopp", _mini(), ["a", "b"], "a photo of a {}."),
    "build_method: one string of classes": lambda: __import__("dpt.methods", fromlist=["x"]).build_method(
        "coop", _mini(), "red bead", "a photo of a {}."),
    "build_method: template without {}": lambda: __import__("dpt.methods", fromlist=["x"]).build_method(
        "coop", _mini(), ["a", "b"], "a photo"),
    "TrainConfig: a string for epochs": lambda: __import__("dpt.trainer", fromlist=["x"]).TrainConfig(epochs="3"),
    "TrainConfig: unknown precision": lambda: __import__("dpt.trainer", fromlist=["x"]).TrainConfig(precision="fp8"),
    "MethodConfig: a float for n_ctx": lambda: __import__("dpt.methods", fromlist=["x"]).MethodConfig(n_ctx=4.5),
    "make_estimator: unknown": lambda: __import__("dpt.mi", fromlist=["x"]).make_estimator("mine2", 4, 4),
    "load_prompts: missing file": lambda: __import__("dpt.experiments.saved", fromlist=["x"]).load_prompts("/nowhere/p.pt"),
    "save_prompts: zero-shot": lambda: __import__("dpt.experiments.saved", fromlist=["x"]).save_prompts(
        __import__("dpt.methods", fromlist=["x"]).build_method("zeroshot", _mini(), ["a", "b"], "a {}."), "/tmp/z.pt"),
    "setup: unknown profile": lambda: __import__("dpt.experiments.course", fromlist=["x"]).setup("reall"),
}


@pytest.mark.parametrize("call", CASES.values(), ids=CASES.keys())
def test_bad_input_to_a_library_entry_point_is_one_line(call):
    with pytest.raises(DptError) as e:
        call()
    assert "\n" not in str(e.value) and len(str(e.value)) > 20


def test_training_on_what_is_not_a_training_set_is_one_line():
    from dpt.methods import build_method
    from dpt.trainer import TrainConfig, train
    m = build_method("coop", _mini(), ["a", "b"], "a photo of a {}.")
    with pytest.raises(DptError):
        train(m, torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), TrainConfig(epochs=2), progress=False)
