"""The library as a notebook calls it: errors in its own words, what `train()` takes, and the review's bugs."""
import ast
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dpt.errors import BadInput
from dpt.methods import MethodConfig, build_method
from dpt.trainer import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["red star", "blue star", "green star", "yellow star"]


def _data(bb, n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, bb.embed_dim, generator=g), dim=-1), torch.arange(n) % len(CLASSES)


def _raised_strings(path: Path):
    """The string pieces of every `raise X(...)` and `warnings.warn(...)` message in a module."""
    for node in ast.walk(ast.parse(path.read_text())):
        call = node.exc if isinstance(node, ast.Raise) else node if isinstance(node, ast.Call) and \
            getattr(node.func, "attr", None) == "warn" else None
        if isinstance(call, ast.Call):
            for sub in ast.walk(call):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    yield node.lineno, sub.value


def test_library_errors_name_the_librarys_arguments_not_command_line_flags():
    """A notebook user calling train() or load_backbone() is told about arguments, not flags they do not have; the
    commands add their flags (dpt.experiments.command_line.for_the_command_line). A whole command to run
    (`python -m dpt data ...`) is advice, and allowed."""
    offenders = []
    for path in sorted((ROOT / "dpt").rglob("*.py")):
        if "experiments" in path.relative_to(ROOT / "dpt").parts:
            continue
        for line, text in _raised_strings(path):
            if re.search(r"(?<![\w-])--[a-z]", text) and "python -m dpt" not in text:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {text.strip()[:70]}")
    assert offenders == []


def test_the_command_line_adds_its_flags_to_a_library_error():
    from dpt.experiments.command_line import for_the_command_line
    msg = str(BadInput("epochs=1 with warmup_epochs=1 trains only at the warm-up lr; give epochs=2 or more, or "
                       "warmup_epochs=0"))
    shown = for_the_command_line(msg)
    assert shown.startswith(msg) and "--epochs N" in shown and "--train-set warmup_epochs=0" in shown
    assert for_the_command_line("nothing to add") == "nothing to add"


def test_train_takes_a_training_set_or_tensors_and_says_so(mini_random):
    from dpt.features import FeatureSet
    x, y = _data(mini_random)
    m = build_method("coop", mini_random, CLASSES, "a photo of a {}.")
    with pytest.raises(BadInput, match=r"^train\(\) takes a training set .* not FeatureSet \(a FeatureSet fs: pass "
                                       r"fs.features, fs.labels\)$"):
        train(m, FeatureSet(x, y), None, TrainConfig(epochs=2), progress=False)
    with pytest.raises(BadInput, match=r"coop trains on features \[N, D\] .* got \(32, 96\) and 5 labels"):
        train(m, x[:, :96], y[:5], TrainConfig(epochs=2), progress=False)


def test_the_adaptive_anchor_survives_scoring_other_classes(miniclip, tmp_path):
    """Pointing a prompt at novel classes (to score them) and back keeps the per-class anchor it was trained with,
    and a prompt saved after scoring holds it too."""
    from dpt.experiments.saved import load_prompts, save_prompts
    x, y = _data(miniclip)
    torch.manual_seed(0)
    m = build_method("dpt", miniclip, CLASSES, "a photo of a {}.", MethodConfig(anchor="confidence"))
    train(m, x, y, TrainConfig(epochs=2, batch_size=8), progress=False)
    anchor = m.anchor_weights.clone()
    assert not torch.allclose(anchor, torch.ones_like(anchor))
    m.set_classnames(["purple star", "white star"])
    m.set_classnames(CLASSES)
    torch.testing.assert_close(m.anchor_weights, anchor)
    m.set_classnames(["purple star", "white star"])
    save_prompts(m, tmp_path / "p.pt")
    back = load_prompts(tmp_path / "p.pt", backbone=miniclip)
    torch.testing.assert_close(back.method.anchor_weights, anchor)


def test_within_class_mixup_in_the_mi_term_is_refused_before_training():
    from dpt.methods import METHODS
    with pytest.raises(BadInput, match="mixup='within' with mixup_in_mi=True"):
        METHODS["dpt"].check_run(MethodConfig(mixup="within"), TrainConfig())
    METHODS["dpt"].check_run(MethodConfig(mixup="within", mixup_in_mi=False), TrainConfig())  # this one is fine
    METHODS["dpt"].check_run(MethodConfig(mixup="within", mi_weight=0.0), TrainConfig())  # no MI term at all


def test_the_fused_view_mixes_at_the_ensemble_weight_or_evenly_without_one(miniclip):
    for ensemble, expected in ((0.0, 0.5), (0.3, 0.3)):
        m = build_method("dpt", miniclip, CLASSES, "a photo of a {}.", MethodConfig(mi_visual="fused", ensemble=ensemble))
        assert m.fused_weight() == pytest.approx(expected)


def test_the_hand_ensemble_variant_uses_its_template_ensemble_at_test_time(miniclip):
    """dpt_hand_ensemble: the hand-crafted view is the template ensemble, in the MI term and in the inference
    ensemble: test-time class features are the soft view mixed with the ensembled one, not with the template."""
    from dpt.prompts import hand_crafted_features
    cfg = MethodConfig(ensemble=0.3)
    torch.manual_seed(0)
    m = build_method("dpt_hand_ensemble", miniclip, CLASSES, "a photo of a {}.", cfg)
    single = hand_crafted_features(miniclip, CLASSES, "a photo of a {}.")
    assert not torch.allclose(m.hand, single, atol=1e-4)
    expected = F.normalize(0.7 * m.soft_features() + 0.3 * m.hand, dim=-1)
    torch.testing.assert_close(m.text_features(), expected)


def test_a_shared_prefix_needs_groups_that_divide_the_batch(mini_random):
    enc = mini_random.text_encoder
    emb = torch.zeros(5, 8, enc.width)
    with pytest.raises(ValueError, match="cannot be cut into 2 equal groups"):
        enc(emb, torch.full((5,), 6), shared_prefix=2, groups=2)


def test_a_failed_evaluation_leaves_the_method_on_its_own_classes(miniclip):
    from dpt.evaluate import score_images
    from dpt.inputs import EvalSet

    class Broken:
        labels = torch.zeros(2, dtype=torch.long)

        def batches(self, batch_size):
            raise OSError("a bad image")
    m = build_method("coop", miniclip, CLASSES, "a photo of a {}.")
    with pytest.raises(OSError):
        score_images(m, {"novel": EvalSet(("purple star", "white star"), "a photo of a {}.", Broken())})
    assert m.classnames == CLASSES and m.text_features().shape[0] == len(CLASSES)


def test_pretraining_an_unknown_arch_says_what_to_pass():
    from dpt.experiments.pretrain import pretrain
    with pytest.raises(BadInput, match="arch 'nope' is not one of miniclip, miniclip-v2"):
        pretrain(steps=1, arch="nope")
