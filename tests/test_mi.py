import math

import pytest
import torch

from dpt.mi import InfoNCE, SeparableCritic, fit_on_gaussians, make_estimator, rho_for_mi

# Documented tolerance: after 500 Adam steps (batch 128, concat critic) on 2-D correlated Gaussians,
# every bound lands below the truth (it is a lower bound) by at most 35% of it.
TOLERANCE = 0.35


@pytest.mark.slow
@pytest.mark.parametrize("name", ["infonce", "jsd", "dv", "nwj"])
@pytest.mark.parametrize("mi", [0.5, 1.5])
def test_estimators_track_known_gaussian_mi(name, mi):
    est = fit_on_gaussians(name, mi, dim=2, steps=500, batch=128, critic="concat", lr=5e-4)
    assert (1 - TOLERANCE) * mi < est < mi + 0.15, f"{name}: {est:.3f} vs true {mi}"


def test_infonce_is_capped_by_log_batch_size():
    # near-deterministic relation: true MI is huge, InfoNCE cannot exceed log N
    n = 16
    est = fit_on_gaussians("infonce", 12.0, dim=2, steps=300, batch=n, critic="separable", lr=2e-3)
    assert est <= math.log(n) + 1e-4
    assert est > 0.8 * math.log(n)


def test_rho_for_mi_inverts_the_closed_form():
    assert rho_for_mi(0.0, 3) == 0
    for d in (1, 3):  # I = -d/2 log(1 - rho^2)
        assert abs(rho_for_mi(-d / 2 * math.log(1 - 0.5 ** 2), d) - 0.5) < 1e-12


def test_estimator_rejects_single_pair_and_unknown_names():
    est = InfoNCE(SeparableCritic(3, 3))
    with pytest.raises(ValueError, match="at least 2"):
        est(torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="infonce"):
        make_estimator("mutual", 3, 3)


def test_dot_critic_bounds_mi_and_rewards_aligned_views_only():
    """The dot critic is a valid (looser) InfoNCE bound, and unlike an MLP critic it cannot follow a
    rotated view: its score drops when one view is rotated, though the MI is unchanged."""
    est = fit_on_gaussians("infonce", 1.0, dim=2, steps=300, batch=128, critic="dot", lr=3e-2)
    assert 0.3 < est < 1.0 + 0.1
    torch.manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(64, 8), dim=-1)
    rotation = torch.linalg.qr(torch.randn(8, 8))[0]
    dot = make_estimator("infonce", 8, 8, critic="dot")
    aligned, rotated = float(dot(x, x)[1]), float(dot(x, x @ rotation)[1])
    assert aligned > rotated + 1.0
    with pytest.raises(ValueError, match="equal dimensions"):
        make_estimator("infonce", 8, 4, critic="dot")


def test_alignment_is_infonces_positive_term_with_a_frozen_critic():
    """The ablation's objective: InfoNCE minus its negatives (log-sum-exp) and log N, with nothing left to train in
    the critic, so the dot critic's temperature cannot grow."""
    import math
    import torch
    import dpt.experiments  # noqa: F401  (the lab registers the ablation's objective)
    from dpt.mi import InfoNCE, make_estimator
    x = torch.nn.functional.normalize(torch.randn(8, 16, generator=torch.Generator().manual_seed(0)), dim=-1)
    y = torch.nn.functional.normalize(x + 0.3 * torch.randn(8, 16, generator=torch.Generator().manual_seed(1)), dim=-1)
    est = make_estimator("alignment", 16, 16, critic="dot")
    assert not any(p.requires_grad for p in est.parameters())
    scores = est.critic(x, y)
    objective, _ = est(x, y)
    torch.testing.assert_close(objective, 10 * (x * y).sum(-1).mean())
    info = InfoNCE(est.critic).bound(scores)[0]
    torch.testing.assert_close(info, math.log(8) + objective - torch.logsumexp(scores, 1).mean())


def test_dv_moving_average_gradient_is_belghazis_formula():
    """MINE (Belghazi et al. 2018, eq. 12-13): grad = E_P[grad T] - E_Q[e^T grad T] / m, with m the moving average
    of the batch means of E_Q[e^T] (m <- (1 - a) m + a mean). The objective's value stays the DV estimate."""
    import math
    from dpt.mi import DonskerVaradhan, DotCritic
    torch.manual_seed(0)
    est = DonskerVaradhan(DotCritic(5, 5), ema=0.1)
    x1, y1, x2, y2 = (torch.randn(16, 5) for _ in range(4))
    est(x1, y1)  # the first batch sets m to its own mean
    first = float(est.running)
    objective, estimate = est(x2, y2)
    scores = est.critic(x2, y2)
    off = scores[~torch.eye(16, dtype=torch.bool)]
    mean_exp = float(off.exp().mean())
    assert math.isclose(float(est.running), 0.9 * first + 0.1 * mean_exp, rel_tol=1e-6)
    params = list(est.parameters())
    g_obj = torch.autograd.grad(objective, params, retain_graph=True)
    g_pos = torch.autograd.grad(scores.diag().mean(), params, retain_graph=True)
    g_neg = torch.autograd.grad(off.exp().mean(), params)
    for a, p, n in zip(g_obj, g_pos, g_neg):
        torch.testing.assert_close(a, p - n / est.running, rtol=1e-5, atol=1e-7)
    assert math.isclose(float(objective), float(estimate), rel_tol=1e-6)  # value: the DV bound itself
    plain = scores.diag().mean() - (torch.logsumexp(off, 0) - math.log(off.numel()))
    assert math.isclose(float(estimate), float(plain), rel_tol=1e-6)
