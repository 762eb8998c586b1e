"""dpt's exploration term, adaptive anchor and inference ensemble (the variants the search rejected): a known-answer
case for each loss term, the gradient reaching the prompt, the critics' own optimiser, adaptive weights from training shots only, and
the inference fusion."""
import math

import pytest
import torch
import torch.nn.functional as F

from dpt.inputs import CachedViews
from dpt.errors import BadInput
from dpt.experiments.variants import DualViewVariants, weighted_infonce
from dpt.methods import DualViewPrompt, MethodConfig, build_method
from dpt.methods.base import ensembled
from dpt.mi import InfoNCE, make_estimator
from dpt.trainer import TrainConfig, build_critic_optimizer, build_optimizer, train

CLASSES = ["red star", "blue ring", "green heart", "yellow cross"]


def shots(n_per=3, d=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(n_per * len(CLASSES), d, generator=g), dim=-1)
    return x, torch.arange(len(CLASSES)).repeat_interleave(n_per)


def test_weighted_infonce_is_the_plain_bound_at_unit_weights_and_drops_a_zero_weight_pair():
    est = make_estimator("infonce", 8, 8, critic="dot")
    x, y = torch.randn(5, 8), torch.randn(5, 8)
    plain, _ = est(x, y)
    same, _ = weighted_infonce(est, x, y, torch.ones(5))
    assert torch.allclose(plain, same)
    scores = est.critic(x, y)
    per_pair = scores.diag() - torch.logsumexp(scores, 1) + math.log(5)
    w = torch.tensor([1.0, 0.0, 0.5, 1.0, 0.0])
    got, _ = weighted_infonce(est, x, y, w)
    assert torch.allclose(got, (w * per_pair).sum() / 5)  # the known answer


def test_the_visual_mi_term_is_infonce_between_mixed_images_and_their_mixed_soft_text(miniclip):
    torch.manual_seed(0)
    m = build_method("dpt", miniclip, CLASSES, "a photo of a {}.",
                     MethodConfig(mi_visual="soft", mi_visual_weight=2.0, mi_weight=0.0))
    x, y = shots()
    torch.manual_seed(3)
    loss, terms = m.loss(x, y)
    # recompute by hand with the same mixup draw
    from dpt.augment import classwise_mixup
    torch.manual_seed(3)
    soft = m.soft_features()
    ce = F.cross_entropy(m.logits(x, soft), y)
    mix = classwise_mixup(x, y, len(CLASSES))
    ce_mix = torch.sum(-mix.targets * F.log_softmax(m.logits(mix.features, soft), -1), -1).mean()
    scores = m.mi_visual.critic.log_scale.exp() * mix.features @ F.normalize(mix.targets @ soft, dim=-1).T
    bound = (scores.diag() - torch.logsumexp(scores, 1)).mean() + math.log(len(x))
    assert torch.allclose(loss, ce + ce_mix - 2.0 * bound, atol=1e-5)
    assert torch.allclose(terms["mi_visual"], bound, atol=1e-5)


def test_the_visual_term_moves_the_prompt_and_its_critic_has_its_own_optimiser(miniclip):
    torch.manual_seed(0)
    m = build_method("dpt", miniclip, CLASSES, "a photo of a {}.",
                     MethodConfig(mi_visual="soft", mi_visual_weight=1.0, mi_weight=0.0, mixup="none"))
    x, y = shots()
    soft = m.soft_features()
    objective, _ = m.mi_visual(x, F.normalize(F.one_hot(y, 4).float() @ soft, dim=-1))
    objective.backward()
    assert m.prompt_learner.ctx.grad is not None and m.prompt_learner.ctx.grad.abs().sum() > 0
    critic = {id(p) for p in m.critic_parameters()}
    assert id(m.mi_visual.critic.log_scale) in critic
    sgd = {id(p) for g in build_optimizer(m, TrainConfig(epochs=2)).param_groups for p in g["params"]}
    adam = {id(p) for g in build_critic_optimizer(m).param_groups for p in g["params"]}
    assert id(m.mi_visual.critic.log_scale) in adam and id(m.mi_visual.critic.log_scale) not in sgd


@pytest.mark.parametrize("anchor", ["accuracy", "confidence"])
def test_the_adaptive_anchor_comes_from_the_training_shots_only(miniclip, anchor):
    """The weights are the hand-crafted view's per-class accuracy (confidence) on the shots the trainer hands over:
    computed by hand here, and the method is never given anything else (no val or test labels exist for it)."""
    torch.manual_seed(0)
    m = build_method("dpt", miniclip, CLASSES, "a photo of a {}.", MethodConfig(anchor=anchor))
    x, y = shots()
    m.begin_training(CachedViews(x.unsqueeze(0), y))
    p = (m.logit_scale * x @ m.hand.T).softmax(-1)
    expected = torch.stack([((p.argmax(-1) == y) if anchor == "accuracy" else p.gather(1, y[:, None]).squeeze(1))
                            [y == c].float().mean() for c in range(4)])
    assert torch.allclose(m.anchor_weights, expected)
    train(m, x, y, TrainConfig(epochs=2, batch_size=6), progress=False)  # the trainer calls it with the shots
    assert torch.allclose(m.anchor_weights, expected)


def test_the_inference_ensemble_is_derived_from_the_shots(miniclip):
    torch.manual_seed(0)
    m = build_method("dpt", miniclip, CLASSES, "a photo of a {}.", MethodConfig(ensemble_from="shots"))
    x, y = shots()
    train(m, x, y, TrainConfig(epochs=2, batch_size=6), progress=False)
    hand = ((m.logit_scale * x @ m.hand.T).argmax(-1) == y).float().mean()
    soft = ((m.logit_scale * x @ m.soft_features().T).argmax(-1) == y).float().mean()
    w = float(hand / (hand + soft))
    assert float(m.ensemble_weight) == pytest.approx(w, abs=1e-6)
    assert torch.allclose(m.text_features(), ensembled(m.soft_features(), m.hand, w), atol=1e-6)
    state = m.state_dict()
    assert "ensemble_weight" in state  # the derived weight travels with a saved prompt


def test_a_fixed_ensemble_mixes_the_hand_crafted_view_in(miniclip):
    torch.manual_seed(0)
    m = build_method("dpt", miniclip, CLASSES, "a photo of a {}.", MethodConfig(ensemble=0.3))
    assert torch.allclose(m.text_features(), F.normalize(0.7 * m.soft_features() + 0.3 * m.hand, dim=-1), atol=1e-6)


def test_a_dpt_prompt_saved_with_the_variants_buffers_still_loads(miniclip):
    """dpt's files from before its variants moved to their own class hold two buffers at their defaults (an anchor
    of ones, the ensemble weight): the method loads them; a file whose variant is on builds the variants' class."""
    m = build_method("dpt", miniclip, CLASSES, "a photo of a {}.")
    assert type(m) is DualViewPrompt and not hasattr(m, "anchor_weights")
    old = {**m.state_dict(), "anchor_weights": torch.ones(len(CLASSES)), "ensemble_weight": torch.tensor(0.3)}
    m.load_state_dict(old)  # strict: no unexpected key
    v = build_method("dpt", miniclip, CLASSES, "a photo of a {}.", MethodConfig(anchor="accuracy"))
    assert type(v) is DualViewVariants and "anchor_weights" in v.state_dict()
    with pytest.raises(BadInput, match="build_method"):
        DualViewPrompt(miniclip, CLASSES, "a photo of a {}.", MethodConfig(mi_visual="soft"))
