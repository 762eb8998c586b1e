"""Whole runs follow the references' schedules: dpt's learning rate, epoch by epoch, equals the one a port of
Dassl's scheduler gives for every method's recipe (the real profile's, from recipes.json, and the miniature's),
and the trainer really trains each epoch at that rate.

The port below is KaiyangZhou/Dassl.pytorch@c61a1b5 dassl/optim/lr_scheduler.py (_BaseWarmupScheduler,
ConstantWarmupScheduler and the cosine branch of build_lr_scheduler), with torch's own CosineAnnealingLR as the
successor; only the deprecated `verbose` argument is dropped. As the Dassl trainers do, the scheduler is
stepped once after each epoch's last batch, and an epoch trains at the optimizer's lr when it starts.
"""
import json
import warnings

import pytest
import torch
from torch.optim.lr_scheduler import _LRScheduler

from dpt.experiments.profiles import get_profile
from dpt.experiments.recipes import RECIPES_FILE, recipe_table, recipes
from dpt.methods import METHODS, MethodConfig, build_method
from dpt.methods.multimodal import prompt_depth
from dpt.trainer import TrainConfig, lr_at, train


# ---- port of Dassl's scheduler -------------------------------------------------------------------------
class _BaseWarmupScheduler(_LRScheduler):

    def __init__(self, optimizer, successor, warmup_epoch, last_epoch=-1):
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        raise NotImplementedError

    def step(self, epoch=None):
        if self.last_epoch >= self.warmup_epoch:
            self.successor.step(epoch)
            self._last_lr = self.successor.get_last_lr()
        else:
            super().step(epoch)


class ConstantWarmupScheduler(_BaseWarmupScheduler):

    def __init__(self, optimizer, successor, warmup_epoch, cons_lr, last_epoch=-1):
        self.cons_lr = cons_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def get_lr(self):
        if self.last_epoch >= self.warmup_epoch:
            return self.successor.get_last_lr()
        return [self.cons_lr for _ in self.base_lrs]


def build_lr_scheduler(optimizer, max_epoch, warmup_epoch, warmup_cons_lr, warmup_recount=True):
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, float(max_epoch))
    if warmup_epoch > 0:
        if not warmup_recount:
            scheduler.last_epoch = warmup_epoch
        scheduler = ConstantWarmupScheduler(optimizer, scheduler, warmup_epoch, warmup_cons_lr)
    return scheduler


def dassl_lrs(cfg: TrainConfig) -> list[float]:
    """The lr each epoch trains at under Dassl (the scheduler stepped after every epoch)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = build_lr_scheduler(opt, cfg.epochs, cfg.warmup_epochs, cfg.warmup_lr)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "lr_scheduler.step() before optimizer.step()": no batches here
        for _ in range(cfg.epochs):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return out


# ---- the recipes ---------------------------------------------------------------------------------------
def recipe_configs():
    """(label, TrainConfig) of every method under the real profile (every per-dataset exception too) and the
    miniature's."""
    real, mini = get_profile("real"), get_profile("miniature")
    out = []
    for method, r in recipes()["methods"].items():
        out.append((f"real/{method}", real.train_config(method, 1)))
        for dataset in r["per_dataset"]:
            out.append((f"real/{method}/{dataset}", real.train_config(method, 1, dataset=dataset)))
    for method in METHODS:
        if METHODS[method].learns:
            out.append((f"miniature/{method}", mini.train_config(method, 1)))
    return out


CONFIGS = recipe_configs()


@pytest.mark.parametrize("label,cfg", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_dpt_lr_equals_dassl_for_every_epoch_of_every_recipe(label, cfg):
    expected = dassl_lrs(cfg)
    got = [lr_at(cfg, e) for e in range(cfg.epochs)]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert got[0] == cfg.warmup_lr and got[cfg.warmup_epochs] == pytest.approx(cfg.lr)  # the first full epoch


@pytest.mark.parametrize("method", ["coop", "kgcoop", "prograd", "maple"])
def test_the_trainer_trains_each_epoch_at_the_dassl_lr(mini_random, method):
    """The step log of a real (tiny) run: every step of epoch e ran at Dassl's lr for e (the real recipe's
    epochs and warm-up, one small batch per epoch)."""
    base = get_profile("real").train_config(method, 1)
    cfg = TrainConfig(**{**base.__dict__, "epochs": min(base.epochs, 12), "batch_size": 4})
    torch.manual_seed(0)
    m = build_method(method, mini_random, ["red star", "blue ring"], "a photo of a {}.", MethodConfig())
    x = torch.randn(4, 3, 48, 48) if m.encodes_images else torch.nn.functional.normalize(torch.randn(4, 128), dim=-1)
    history = train(m, x, torch.tensor([0, 1, 0, 1]), cfg, progress=False)
    per_epoch = {r["epoch"]: r["lr"] for r in history}
    assert [per_epoch[e] for e in range(cfg.epochs)] == pytest.approx(dassl_lrs(cfg), rel=1e-9)


def test_recipe_table_names_a_source_for_every_method_and_matches_dpt_defaults():
    table = json.loads(RECIPES_FILE.read_text())
    defaults = MethodConfig()
    for method, r in table["methods"].items():
        assert method in METHODS and r["source"] and "departs" in r
        for field, value in r["method"].items():
            ours = prompt_depth(defaults, 12) if field == "prompt_depth" else getattr(defaults, field)  # ViT-B/16's 12
            assert ours == value, (method, field)  # dpt's defaults are the recipe's
    for method in METHODS:
        assert method == "zeroshot" or method in table["methods"], method
    for method in ("coop", "cocoop", "kgcoop", "prograd", "ivlp", "maple", "promptsrc"):
        assert "@" in table["methods"][method]["source"]  # repository@commit:path


def test_the_docs_print_the_recipe_table_as_the_command_does():
    from pathlib import Path
    assert recipe_table() in (Path(__file__).resolve().parents[1] / "docs" / "real-clip.md").read_text()
