"""Shared-prefix text encoding is exact: features, losses and gradients equal the unshared path for
every method where the prefix is shared, on miniclip and ViT-B-16; in float64 the two paths agree to 1e-10
(the same arithmetic), in float32 to its rounding; prompts whose class name comes early fall back."""
import pytest
import torch
import torch.nn.functional as F

from dpt.methods import MethodConfig, build_method
from dpt.text_encoder import TextEncoder

NAMES = ["red star", "blue ring", "a very long yellow parallelogram", "cat"]


def both_paths(method, x, y):
    out = {}
    for share in (True, False):
        TextEncoder.share_prefix = share
        try:
            torch.manual_seed(0)  # the same mixup draws on both paths
            method.zero_grad()
            loss, _ = method.loss(x, y)
            loss.backward()
            grads = {n: p.grad.clone() for n, p in method.named_parameters() if p.grad is not None}
            feats = None if method.text_per_image else method.text_features().detach()
            out[share] = (loss.detach(), feats, grads)
        finally:
            TextEncoder.share_prefix = True
    return out


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


@pytest.mark.parametrize("backbone", ["mini_random", "vit_b16_random"])
@pytest.mark.parametrize("method", ["coop", "kgcoop", "dpt", "cocoop", "ivlp", "maple", "promptsrc"])
def test_the_shared_prefix_path_equals_the_full_path(request, backbone, method):
    bb = request.getfixturevalue(backbone)
    if backbone == "vit_b16_random" and method in ("ivlp", "maple", "promptsrc"):
        pytest.skip("the visual-prompt methods' text side is the same code; ViT-B-16's image tower makes it slow")
    torch.manual_seed(0)
    cfg = MethodConfig(gpa_mean=1.0)
    m = build_method(method, bb, NAMES, "a photo of a {}.", cfg).double()
    m.backbone.model.double()
    try:
        x = (torch.randn(2, 3, *[bb.model.visual.image_size[0]] * 2, dtype=torch.float64) if m.encodes_images
             else F.normalize(torch.randn(3, bb.embed_dim, dtype=torch.float64), dim=-1))
        y = torch.arange(len(x)) % len(NAMES)
        assert m.prompt_learner.shared_prefix >= 2  # SOT and the context are shared
        out = both_paths(m, x, y)
        assert rel(out[True][0], out[False][0]) < 1e-10
        if out[True][1] is not None:
            assert rel(out[True][1], out[False][1]) < 1e-10
        assert out[True][2].keys() == out[False][2].keys() and out[True][2]
        for k in out[False][2]:
            assert rel(out[True][2][k], out[False][2][k]) < 1e-10, k
    finally:
        m.backbone.model.float()


def test_float32_agrees_to_its_rounding(miniclip):
    torch.manual_seed(0)
    m = build_method("coop", miniclip, NAMES, "a photo of a {}.", MethodConfig())
    x, y = F.normalize(torch.randn(4, 128), dim=-1), torch.arange(4)
    out = both_paths(m, x, y)
    assert rel(out[True][0], out[False][0]) < 1e-6 and rel(out[True][1], out[False][1]) < 1e-6
    assert all(rel(out[True][2][k], out[False][2][k]) < 1e-5 for k in out[False][2])


@pytest.mark.parametrize("cfg", [MethodConfig(class_position="middle", ctx_init=None, n_ctx=4),
                                 MethodConfig(class_specific=True, ctx_init=None, n_ctx=4)])
def test_class_dependent_prefixes_take_the_full_path(mini_random, cfg):
    m = build_method("coop", mini_random, NAMES, "a photo of a {}.", cfg)
    assert m.prompt_learner.shared_prefix == 0
