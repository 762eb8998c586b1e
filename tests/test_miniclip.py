import json

import numpy as np
import open_clip
import pytest
import torch

from dpt.backbones import ASSETS, MINICLIP_CFG, build_miniclip
from dpt.experiments.pretrain import heldout_accuracy
from dpt.experiments.pretrain import clip_loss, render_corpus, to_tensor
from dpt.data.world import caption

# Stated bound: on 600 fresh photo-style scenes (seed 10000, never in the corpus) the shipped
# miniclip names the colour among 12 with "a photo of a {colour} object." far above chance (8.3%).
# (Shape naming is NOT yet learned by the current checkpoint: see docs/README.md, "Known gaps".)
HELDOUT_COLOUR_BOUND = 80.0


def test_shipped_checkpoint_loads_and_recognises_heldout_colours(miniclip):
    assert (ASSETS / "miniclip.pt").stat().st_size < 25 * 2**20
    acc = heldout_accuracy(miniclip.model, miniclip.tokenizer, "colour")
    assert acc > HELDOUT_COLOUR_BOUND
    record = json.loads((ASSETS / "miniclip.json").read_text())
    assert {"args", "seed", "steps", "final_loss", "zero_shot"} <= set(record)
    # the record describes this very checkpoint
    assert abs(record["heldout_shape_zero_shot"] - heldout_accuracy(miniclip.model, miniclip.tokenizer, "shape")) < 1.0


@pytest.mark.slow
def test_a_few_pretraining_steps_lower_the_loss():
    torch.manual_seed(0)
    scenes, images = render_corpus(64, seed=3, size=MINICLIP_CFG["vision_cfg"]["image_size"], workers=1, progress=False)
    tok = open_clip.get_tokenizer("ViT-B-16")
    rng = np.random.default_rng(0)
    x = to_tensor(images)
    tokens = tok([caption(s, rng) for s in scenes], context_length=MINICLIP_CFG["text_cfg"]["context_length"])
    model = build_miniclip()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    with torch.no_grad():
        before = float(clip_loss(model, x, tokens))
    for _ in range(15):
        loss = clip_loss(model, x, tokens)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(clip_loss(model, x, tokens))
    assert after < before - 0.5


@pytest.mark.slow
def test_the_shipped_miniclip_v2_names_objects_by_their_shape():
    """miniclip-v2 (a hybrid ViT on ShapeWorld v2) names the kind of a held-out object among all 67 from its shape
    far above chance (1.5%), and its record describes this very checkpoint."""
    from dpt.backbones import MINICLIPS, load_backbone
    from dpt.experiments.pretrain import object_probes
    spec = MINICLIPS["miniclip-v2"]
    assert spec.checkpoint.stat().st_size < 25 * 2**20
    record = json.loads(spec.checkpoint.with_suffix(".json").read_text())
    assert {"args", "seed", "steps", "final_loss", "loss_curve", "probes", "zero_shot", "minutes"} <= set(record)
    assert record["minutes"] <= 120  # the pretraining budget
    bb = load_backbone("miniclip-v2")
    probes = object_probes(bb.model, bb.tokenizer)  # the record's own probe (600 held-out scenes per style)
    assert probes["kind_photo"] > 30
    for k in ("kind_photo", "kind_sketch", "kind_pixel"):  # the fp16 checkpoint rounds the weights a little
        assert abs(probes[k] - record[k]) < 2.0, k
