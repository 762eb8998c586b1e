import time

import pytest
import torch

from dpt import backbones, pretrained
from dpt.backbones import BackboneUnavailable, load_backbone, tokenize

PROMPTS = ["a photo of a red star.", "a sketch of a big blue heart on a white background.", "x"]


@pytest.mark.parametrize("which", ["mini_random", "vit_b16_random"])
def test_text_encoder_reproduces_encode_text(which, request):
    bb = request.getfixturevalue(which)
    tokens = tokenize(bb.tokenizer, PROMPTS, bb.context_length)
    ref = bb.model.encode_text(tokens)
    ours = bb.text_encoder.encode_tokens(tokens)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("which", ["mini_random", "vit_b16_random"])
def test_truncation_at_longest_eot_is_exact(which, request):
    bb = request.getfixturevalue(which)
    tokens = tokenize(bb.tokenizer, PROMPTS, bb.context_length)
    cut = bb.text_encoder.encode_tokens(tokens, truncate=True)
    full = bb.text_encoder.encode_tokens(tokens, truncate=False)
    torch.testing.assert_close(cut, full, atol=1e-5, rtol=1e-5)
    # and the cut really is shorter than the context
    assert int(tokens.argmax(-1).max()) + 1 < bb.context_length


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(ValueError, match="miniclip.*ViT-B-16"):
        load_backbone("ViT-Q-99")


def test_missing_weights_fail_fast_with_guidance(monkeypatch):
    monkeypatch.setattr(pretrained, "_hub_reachable", lambda *a, **k: False)
    t0 = time.time()
    with pytest.raises(BackboneUnavailable) as e:
        load_backbone("ViT-B-16", pretrained="openai")
    assert time.time() - t0 < 20, "must fail fast, not wait for a network time-out"
    msg = str(e.value)
    assert "file path" in msg and "miniclip" in msg and "online" in msg


def test_local_checkpoint_path_loads(vit_b16_random, tmp_path):
    path = tmp_path / "vitb16.pt"
    torch.save({k: v.half() for k, v in vit_b16_random.model.state_dict().items()}, path)
    bb = load_backbone("ViT-B-16", pretrained=str(path))
    w0 = vit_b16_random.model.visual.conv1.weight
    torch.testing.assert_close(bb.model.visual.conv1.weight, w0.half().float())


def test_corrupt_checkpoint_is_reported(tmp_path):
    bad = tmp_path / "miniclip.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    with pytest.raises(BackboneUnavailable, match="corrupt"):
        load_backbone("miniclip", checkpoint=bad)
    with pytest.raises(BackboneUnavailable, match="corrupt"):
        load_backbone("ViT-B-16", pretrained=str(bad))


def test_missing_miniclip_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(BackboneUnavailable, match="python -m dpt pretrain"):
        load_backbone("miniclip", checkpoint=tmp_path / "nope.pt")


def test_class_name_too_long_is_named(mini_random):
    long_name = "very " * 40 + "long class"
    with pytest.raises(ValueError, match="very very"):
        mini_random.encode_prompts([f"a photo of a {long_name}."])


def test_empty_class_list(mini_random):
    from dpt.prompts import hand_crafted_features
    with pytest.raises(ValueError, match="empty class list"):
        hand_crafted_features(mini_random, [], "a photo of a {}.")


def test_class_specific_random_contexts_differ_per_class(mini_random):
    from dpt.prompts import SoftPromptLearner
    torch.manual_seed(0)
    pl = SoftPromptLearner(mini_random, ["red star", "blue ring", "green cube"], n_ctx=4, init=None,
                           class_specific=True)
    assert pl.ctx.shape[:2] == (3, 4)
    assert not torch.equal(pl.ctx[0], pl.ctx[1]) and not torch.equal(pl.ctx[1], pl.ctx[2])
    torch.manual_seed(0)
    shared = SoftPromptLearner(mini_random, ["red star", "blue ring"], n_ctx=4, init=None)
    torch.testing.assert_close(shared.ctx[0], pl.ctx[0])  # the generic context draws the same first set
