"""Variational lower bounds on mutual information with learnable critics (Poole et al., 2019): InfoNCE, NWJ,
DV/MINE and JSD. A critic scores all pairs of a batch (the diagonal is the joint); each estimator returns
(objective to maximise, estimate in nats)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .errors import BadInput


def _mlp(d_in: int, hidden: int, d_out: int, layers: int = 2) -> nn.Sequential:
    mods, d = [], d_in
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, d_out))
    return nn.Sequential(*mods)


class SeparableCritic(nn.Module):
    """f(x, y) = g(x) . h(y): all N^2 scores from 2N encoder passes."""

    def __init__(self, dim_x: int, dim_y: int, hidden: int = 128, embed: int = 32, layers: int = 2):
        super().__init__()
        self.g = _mlp(dim_x, hidden, embed, layers)
        self.h = _mlp(dim_y, hidden, embed, layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.g(x) @ self.h(y).T


class DotCritic(nn.Module):
    """f(x, y) = exp(s) x . y: only a temperature is learned, so the critic cannot absorb one view's drift."""

    def __init__(self, dim_x: int, dim_y: int, hidden: int = 0, init_scale: float = 10.0):
        super().__init__()
        if dim_x != dim_y:
            raise ValueError(f"the dot critic needs equal dimensions, got {dim_x} and {dim_y}")
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.log_scale.exp() * x @ y.T


class ConcatCritic(nn.Module):
    """f(x, y) = MLP([x, y]): the most expressive critic, N^2 MLP passes."""

    def __init__(self, dim_x: int, dim_y: int, hidden: int = 128, layers: int = 2):
        super().__init__()
        self.net = _mlp(dim_x + dim_y, hidden, 1, layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n, m = x.shape[0], y.shape[0]
        pairs = torch.cat([x.unsqueeze(1).expand(n, m, -1), y.unsqueeze(0).expand(n, m, -1)], dim=-1)
        return self.net(pairs).squeeze(-1)


def _off_diagonal(scores: torch.Tensor) -> torch.Tensor:
    n = scores.shape[0]
    return scores[~torch.eye(n, dtype=torch.bool, device=scores.device)]


def _log_mean_exp_off_diagonal(scores: torch.Tensor) -> torch.Tensor:
    off = _off_diagonal(scores)
    return torch.logsumexp(off, dim=0) - math.log(off.numel())


class MIEstimator(nn.Module):
    def __init__(self, critic: nn.Module):
        super().__init__()
        self.critic = critic

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(objective, estimate in nats)."""
        return self.bound(self.scores(x, y))

    def scores(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The critic's [N, N] scores of all pairs (the diagonal is the joint)."""
        if x.shape[0] < 2:
            raise ValueError("MI estimation needs at least 2 paired samples (for negatives)")
        return self.critic(x, y)

    def bound(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class InfoNCE(MIEstimator):
    def bound(self, scores):
        n = scores.shape[0]
        mi = (scores.diag() - torch.logsumexp(scores, dim=1)).mean() + math.log(n)
        return mi, mi.detach()


class NWJ(MIEstimator):
    def bound(self, scores):
        mi = scores.diag().mean() - torch.exp(_log_mean_exp_off_diagonal(scores) - 1.0)
        return mi, mi.detach()


class DonskerVaradhan(MIEstimator):
    """MINE: with `ema`, a moving average debiases the gradient of the log term (the estimate stays the plain DV)."""

    def __init__(self, critic: nn.Module, ema: float = 0.01):
        super().__init__(critic)
        self.ema = ema
        self.register_buffer("running", torch.tensor(float("nan")))

    def bound(self, scores):
        lme = _log_mean_exp_off_diagonal(scores)
        estimate = scores.diag().mean() - lme
        if not self.training or not self.ema:
            return estimate, estimate.detach()
        mean_exp = torch.exp(lme.detach())
        if torch.isnan(self.running):
            self.running.copy_(mean_exp)
        else:
            self.running.mul_(1 - self.ema).add_(self.ema * mean_exp)
        # value equals the DV estimate; gradient of the log term is grad(E_q e^f) / running average
        off = _off_diagonal(scores)
        corrected = torch.exp(torch.logsumexp(off, 0) - math.log(off.numel())) / self.running
        objective = scores.diag().mean() - (corrected - corrected.detach() + lme.detach())
        return objective, estimate.detach()


class JSD(MIEstimator):
    def bound(self, scores):
        pos = scores.diag()
        neg = _off_diagonal(scores)
        objective = -F.softplus(-pos).mean() - F.softplus(neg).mean()
        f = scores + 1.0  # JSD's optimal critic is log p/q, NWJ's is 1 + log p/q: shift by 1 to read NWJ's bound
        estimate = f.diag().mean() - torch.exp(_log_mean_exp_off_diagonal(f) - 1.0)
        return objective, estimate.detach()


ESTIMATORS = {"infonce": InfoNCE, "jsd": JSD, "dv": DonskerVaradhan, "nwj": NWJ}  # lower bounds on MI
OBJECTIVES = dict(ESTIMATORS)  # what dpt's MI term may use (the lab adds its ablation's "alignment")
CRITICS = {"separable": SeparableCritic, "dot": DotCritic, "concat": ConcatCritic}


def make_estimator(name: str, dim_x: int, dim_y: int, critic: str = "dot", hidden: int = 128,
                   **critic_kwargs) -> MIEstimator:
    if name not in OBJECTIVES:
        raise BadInput(f"unknown MI estimator {name!r}; valid: {', '.join(OBJECTIVES)}")
    if critic not in CRITICS:
        raise BadInput(f"unknown critic {critic!r}; valid: {', '.join(CRITICS)}")
    return OBJECTIVES[name](CRITICS[critic](dim_x, dim_y, hidden=hidden, **critic_kwargs))


def rho_for_mi(mi: float, dim: int) -> float:
    """The rho whose pair from sample_correlated_gaussians has this true MI: I = -d/2 log(1 - rho^2) nats."""
    return math.sqrt(1 - math.exp(-2 * mi / dim))


def sample_correlated_gaussians(n: int, dim: int, rho: float, generator: torch.Generator | None = None):
    x = torch.randn(n, dim, generator=generator)
    eps = torch.randn(n, dim, generator=generator)
    return x, rho * x + math.sqrt(1 - rho ** 2) * eps


def fit_on_gaussians(name: str, mi: float, dim: int = 2, steps: int = 600, batch: int = 128, lr: float = 5e-4,
                     critic: str = "concat", seed: int = 0, eval_batches: int = 20) -> float:
    """Train an estimator on correlated Gaussians with known MI; return its final estimate (nats)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    est = make_estimator(name, dim, dim, critic=critic, hidden=128)
    opt = torch.optim.Adam(est.parameters(), lr=lr)
    rho = rho_for_mi(mi, dim)
    for _ in range(steps):
        x, y = sample_correlated_gaussians(batch, dim, rho, g)
        objective, _ = est(x, y)
        opt.zero_grad()
        (-objective).backward()
        opt.step()
    est.eval()
    with torch.no_grad():
        vals = [est(*sample_correlated_gaussians(batch, dim, rho, g))[1] for _ in range(eval_batches)]
    return float(torch.stack(vals).mean())
