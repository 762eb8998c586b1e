"""IVLP, MaPLe and PromptSRC against ports of the reference code (muzairkhattak/multimodal-prompt-learning,
muzairkhattak/PromptSRC): the deep-prompt forward of both towers (ResidualAttentionBlock_IVLP / _MaPLe,
sequence-first as there), MaPLe's coupling, PromptSRC's loss and its Gaussian prompt aggregation."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dpt.errors import BadInput
from dpt.backbones import weights_fingerprint
from dpt.methods import MethodConfig, build_method
from dpt.methods.multimodal import gpa_weights
from dpt.prompts import CLIP_IMAGENET_TEMPLATES
from dpt.trainer import TrainConfig, train

CLASSES = ["red balloon", "blue balloon", "green balloon", "lime balloon"]


def _blocks_ref(blocks, x, deep, replace, attn_mask=None):
    """The reference's transformer: x is [L, N, D]; before layer i >= 1 the prompt tokens are replaced."""
    for i, blk in enumerate(blocks):
        if 1 <= i <= len(deep):
            x = replace(x, deep[i - 1].expand(x.shape[1], -1, -1).permute(1, 0, 2))
        mask = attn_mask[:x.shape[0], :x.shape[0]].to(x.dtype) if attn_mask is not None else None
        h = blk.ln_1(x)
        if blk.attn.batch_first:  # open_clip's attention modules are batch-first; the reference's are not
            h = h.transpose(0, 1)
        a = blk.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        x = x + (a.transpose(0, 1) if blk.attn.batch_first else a)
        x = x + blk.mlp(blk.ln_2(x))
    return x


def reference_image_features(model, images, prompts):
    """VisionTransformer.forward of the reference's clip/model.py, with VPT prompts [shallow, deep...]."""
    v = model.visual
    x = v.conv1(images).reshape(images.shape[0], v.conv1.out_channels, -1).permute(0, 2, 1)
    x = torch.cat([v.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1]), x], dim=1) + v.positional_embedding
    x = torch.cat([x, prompts[0].expand(x.shape[0], -1, -1)], dim=1)
    x = v.ln_pre(x).permute(1, 0, 2)
    n = prompts[0].shape[0]
    x = _blocks_ref(v.transformer.resblocks, x, prompts[1:], lambda x, ctx: torch.cat([x[:x.shape[0] - n], ctx], 0))
    return v.ln_post(x.permute(1, 0, 2)[:, 0, :]) @ v.proj


def reference_text_features(model, prompt_embeddings, tokens, deep):
    """TextEncoder.forward + the IVLP/MaPLe text blocks: the full context, no truncation."""
    x = (prompt_embeddings + model.positional_embedding).permute(1, 0, 2)
    n = deep[0].shape[0] if deep else 0
    x = _blocks_ref(model.transformer.resblocks, x, deep,
                    lambda x, ctx: torch.cat([x[:1], ctx, x[1 + n:]], 0), attn_mask=model.attn_mask)
    x = model.ln_final(x.permute(1, 0, 2))
    return x[torch.arange(x.shape[0]), tokens.argmax(-1)] @ model.text_projection


def _images(seed, n=6):
    return torch.randn(n, 3, 48, 48, generator=torch.Generator().manual_seed(seed))


def _perturb(method, seed):
    """Move every prompt off its initial value, so a misplaced token cannot go unnoticed."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in method.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)


def _reference_logits(method, bb, images, vision_prompts):
    pl = method.prompt_learner
    names = [c.replace("_", " ") for c in CLASSES]
    prefix = " ".join(["X"] * pl.n_ctx)
    tokens = bb.tokenizer([" ".join(filter(None, (prefix, pl.fixed_words, c))) + "." for c in names],
                          context_length=bb.context_length)
    emb = bb.model.token_embedding(tokens)
    emb = torch.cat([emb[:, :1], pl.ctx.expand(len(names), -1, -1), emb[:, 1 + pl.n_ctx:]], dim=1)
    text = F.normalize(reference_text_features(bb.model, emb, tokens, list(method.text_deep)), dim=-1)
    image = F.normalize(reference_image_features(bb.model, images, vision_prompts), dim=-1)
    return bb.logit_scale * image @ text.T


@pytest.mark.parametrize("name", ["ivlp", "promptsrc"])
def test_ivlp_logits_match_the_reference_deep_prompt_forward(miniclip, name):
    torch.manual_seed(0)
    m = build_method(name, miniclip, CLASSES, "a photo of a {}.", MethodConfig())
    assert m.depth == 3 and len(m.text_deep) == 2 and len(m.vision_tokens) == 3  # 3/4 of miniclip's 4 layers
    _perturb(m, 1)
    x = _images(2)
    with torch.no_grad():
        ref = _reference_logits(m, miniclip, x, list(m.vision_tokens))
        torch.testing.assert_close(m.logits(x), ref, atol=1e-4, rtol=1e-4)


def test_maple_couples_vision_prompts_to_text_prompts_as_the_reference(miniclip):
    torch.manual_seed(0)
    m = build_method("maple", miniclip, CLASSES, "a photo of a {}.", MethodConfig())
    pl = m.prompt_learner
    # 2 learned tokens initialised from "a photo", "of a" kept as words (the reference's prompt_prefix)
    assert pl.n_ctx == 2 and pl.fixed_words == "of a"
    tokens = miniclip.tokenizer([f"a photo of a {c}." for c in CLASSES], context_length=miniclip.context_length)
    torch.testing.assert_close(pl.prompt_embeddings(), miniclip.model.token_embedding(tokens)[:, :pl.prompt_embeddings().shape[1]])
    # the deep projections start as clones of one layer (_get_clones)
    w = [p.weight for p in m.deep_proj]
    assert all(torch.equal(w[0], wi) for wi in w[1:]) and not torch.equal(m.proj.weight, w[0])
    _perturb(m, 3)
    x = _images(4)
    with torch.no_grad():
        vision = [m.proj(pl.ctx[0]), *(p(t) for p, t in zip(m.deep_proj, m.text_deep))]
        torch.testing.assert_close(m.logits(x), _reference_logits(m, miniclip, x, vision), atol=1e-4, rtol=1e-4)
    # gradients reach the text prompts through the vision side too (the coupling)
    m.zero_grad()
    m.image_features(x).sum().backward()
    assert m.prompt_learner.ctx.grad.abs().sum() > 0 and m.text_deep[0].grad.abs().sum() > 0


def reference_promptsrc_loss(m, bb, images, labels, cfg):
    """CustomCLIP.forward + PromptSRC.forward_backward (trainers/promptsrc.py), ported."""
    names = [c.replace("_", " ") for c in m.classnames]
    with torch.no_grad():
        feats = [bb.model.encode_text(bb.tokenizer([t.replace("{}", c) for c in names],
                                                   context_length=bb.context_length)) for t in CLIP_IMAGENET_TEMPLATES]
        fixed = torch.stack(feats, 1).mean(1)
        fixed = fixed / fixed.norm(dim=-1, keepdim=True)
        zs = bb.model.encode_image(images)
        zs = zs / zs.norm(dim=-1, keepdim=True)
        zs_logits = bb.logit_scale * zs @ fixed.t()
    text = m.soft_features()
    image = F.normalize(m.vision(images, m.vision_prompts()), dim=-1)
    logits = bb.logit_scale * image @ text.t()
    loss_ce = F.cross_entropy(logits, labels)
    loss_scl_text = F.l1_loss(text, fixed, reduction="mean") * cfg.src_text_weight
    loss_scl_image = F.l1_loss(image, zs, reduction="mean") * cfg.src_image_weight
    l_scl_logits = F.kl_div(F.log_softmax(logits / 1, dim=1), F.log_softmax(zs_logits / 1, dim=1),
                            reduction="sum", log_target=True) * (1 * 1) / logits.numel()
    return loss_ce + l_scl_logits + loss_scl_text + loss_scl_image


def test_promptsrc_loss_matches_the_reference(miniclip):
    torch.manual_seed(0)
    cfg = MethodConfig(src_text_weight=25.0, src_image_weight=10.0)
    m = build_method("promptsrc", miniclip, CLASSES, "a photo of a {}.", cfg)
    _perturb(m, 5)
    x, y = _images(6, n=8), torch.arange(8) % len(CLASSES)
    loss, terms = m.loss(x, y)
    ref = reference_promptsrc_loss(m, miniclip, x, y, cfg)
    torch.testing.assert_close(loss, ref, atol=1e-4, rtol=1e-4)
    assert terms["l1_text"] > 0 and terms["l1_image"] > 0 and terms["kl"] > 0  # each term is present
    # weights enter linearly: zeroing both leaves CE + KL
    m.cfg = MethodConfig(src_text_weight=0.0, src_image_weight=0.0)
    loss0, t0 = m.loss(x, y)
    torch.testing.assert_close(loss0, t0["ce"] + t0["kl"])


def test_gpa_weights_are_the_reference_gaussian():
    mu, sigma, n = 15, 1, 20
    gauss = np.array([(1 / (sigma * np.sqrt(2 * np.pi))) * np.exp(-0.5 * ((a - mu) / sigma) ** 2) for a in range(1, n + 1)])
    np.testing.assert_allclose(gpa_weights(n, mu, sigma), gauss / gauss.sum(), rtol=1e-12)
    assert math.isclose(sum(gpa_weights(5, 2.0, 1.0)), 1.0)


def test_promptsrc_ends_on_the_gaussian_average_of_its_epochs_and_resumes_to_it(miniclip, tmp_path):
    torch.manual_seed(0)
    cfg = MethodConfig(gpa_mean=2.0, gpa_std=1.0)
    x, y = _images(7, n=8), torch.arange(8) % len(CLASSES)
    tc = TrainConfig(epochs=3, batch_size=4, seed=1)

    def fresh():
        torch.manual_seed(0)
        return build_method("promptsrc", miniclip, CLASSES, "a photo of a {}.", cfg)
    m = fresh()
    snapshots = []
    end_epoch = m.end_epoch
    m.end_epoch = lambda e, n: (snapshots.append([p.detach().clone() for p in m.parameters()]), end_epoch(e, n))
    train(m, x, y, tc, progress=False)
    w = gpa_weights(3, 2.0, 1.0)
    for i, p in enumerate(m.parameters()):
        torch.testing.assert_close(p.detach(), sum(wi * s[i] for wi, s in zip(w, snapshots)))
    assert not torch.equal(snapshots[-1][0], next(m.parameters()).detach())  # the average, not the last epoch
    # killed after epoch 1 and resumed: the running average is in the checkpoint
    a = fresh()
    train(a, x, y, tc, out_dir=tmp_path, progress=False, stop_after_epoch=0)
    b = fresh()
    train(b, x, y, tc, out_dir=tmp_path, resume=True, progress=False)
    for p, q in zip(m.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


@pytest.mark.parametrize("name", ["ivlp", "maple", "promptsrc"])
def test_visual_prompt_methods_learn_only_their_prompts(miniclip, name):
    torch.manual_seed(0)
    before = weights_fingerprint(miniclip)
    m = build_method(name, miniclip, CLASSES, "a photo of a {}.", MethodConfig())
    x, y = _images(8, n=16), torch.arange(16) % len(CLASSES)
    with torch.no_grad():
        ce0 = F.cross_entropy(m.logits(x), y)
    hist = train(m, x, y, TrainConfig(epochs=8, batch_size=8, lr=0.01, warmup_epochs=0), progress=False)
    with torch.no_grad():
        assert F.cross_entropy(m.logits(x), y) < ce0 - 0.1
    assert len(hist) == 16 and weights_fingerprint(miniclip) == before  # the frozen CLIP never moves
    m.set_classnames(["red ball", "blue ball"])  # base -> novel works (shared contexts)
    assert m.logits(x).shape == (16, 2)


def test_prompt_depth_beyond_the_backbone_is_refused(miniclip):
    with pytest.raises(BadInput, match="prompt_depth 9 exceeds the backbone's 4 layers"):
        build_method("ivlp", miniclip, CLASSES, "a photo of a {}.", MethodConfig(prompt_depth=9))


@pytest.mark.slow
def test_either_module_can_be_imported_first():
    import subprocess
    import sys
    for first in ("dpt.methods.multimodal", "dpt.methods.registry", "dpt.methods"):
        code = f"import {first}; from dpt.methods import METHODS; print(sorted(METHODS))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert "'ivlp'" in out and "'promptsrc'" in out and "'dpt'" in out


PROMPTSRC_TEMPLATES = (
    "a photo of a {}.", "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.",
    "a photo of the hard to see {}.", "a low resolution photo of the {}.", "a rendering of a {}.",
    "graffiti of a {}.", "a bad photo of the {}.", "a cropped photo of the {}.", "a tattoo of a {}.",
    "the embroidered {}.", "a photo of a hard to see {}.", "a bright photo of a {}.", "a photo of a clean {}.",
    "a photo of a dirty {}.", "a dark photo of the {}.", "a drawing of a {}.", "a photo of my {}.",
    "the plastic {}.", "a photo of the cool {}.", "a close-up photo of a {}.", "a black and white photo of the {}.",
    "a painting of the {}.", "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.",
    "a bright photo of the {}.", "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.", "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.",
    "a rendering of the {}.", "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.",
    "a close-up photo of the {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.",
    "a doodle of the {}.", "a origami {}.", "a low resolution photo of a {}.", "the toy {}.",
    "a rendition of the {}.", "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.",
    "a photo of a nice {}.", "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.",
    "a sketch of the {}.", "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.",
)  # muzairkhattak/PromptSRC trainers/imagenet_templates.py, IMAGENET_TEMPLATES


def test_promptsrcs_templates_are_the_references():
    assert CLIP_IMAGENET_TEMPLATES == PROMPTSRC_TEMPLATES
