"""One trainer for every method, a loop that reads top to bottom: SGD with Dassl's warm-up + cosine schedule (as
the references build it) over cached features or images; an MI critic gets its own Adam. Batch order and random draws
are seeded by (seed, epoch), so a run resumed from its epoch checkpoint ends with an uninterrupted run's numbers.
Checkpoints (dpt.checkpoint) and mixed precision (dpt.precision) live in the helpers it calls."""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import islice

import torch
from tqdm.auto import tqdm

from .checkpoint import run_folder
from .config import check, check_numbers, from_dict
from .errors import BadInput, DptError
from .methods.base import PromptMethod
from .precision import PRECISIONS, autocast_for, optimizer_step, resolved_precision


@dataclass
class TrainConfig:
    """SGD with CoOp's settings; 30 epochs, chosen on the default miniature's val split."""
    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5
    seed: int = 1
    precision: str = "auto"  # "auto": bf16 (fp16 without bf16) autocast on CUDA, fp32 on CPU; "fp32"; "bf16"; "fp16"

    def __post_init__(self):
        check_numbers(self, "training")
        check(self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        check(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        check(self.lr > 0 and self.warmup_lr >= 0, f"learning rates must be positive, got lr={self.lr}, "
                                                    f"warmup_lr={self.warmup_lr}")
        check(self.warmup_epochs >= 0, f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        check(self.epochs > self.warmup_epochs,
              f"epochs={self.epochs} with warmup_epochs={self.warmup_epochs} trains only at the warm-up lr "
              f"({self.warmup_lr:g}); give more epochs than warm-up epochs (epochs={self.warmup_epochs + 1} or more), "
              "or warmup_epochs=0")
        check(self.momentum >= 0 and self.weight_decay >= 0, "momentum and weight_decay must be >= 0")
        check(self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return from_dict(cls, d, "training")

    @classmethod
    def for_method(cls, method: str, **overrides) -> "TrainConfig":
        """These defaults under `method`'s `train_defaults`, then `overrides`."""
        from .methods.registry import METHODS, check_method
        check_method(method)
        return from_dict(cls, {**METHODS[method].train_defaults, **overrides}, "training")


class NonFiniteLoss(DptError, FloatingPointError):
    pass


class OutOfMemory(DptError, MemoryError):
    pass


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """The lr of (0-based) `epoch` under Dassl's constant warm-up + cosine schedule (see the module docstring)."""
    if epoch < cfg.warmup_epochs:
        return cfg.warmup_lr
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * (epoch - cfg.warmup_epochs) / cfg.epochs))


def epoch_order(cfg: TrainConfig, epoch: int, n: int) -> torch.Tensor:
    """The sample order of `epoch`, from (seed, epoch) alone."""
    g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    return torch.randperm(n, generator=g)


def epoch_batches(data, labels: torch.Tensor, cfg: TrainConfig, epoch: int, device: torch.device):
    """The (inputs, labels) batches of `epoch` on the run's device, in the epoch's order (`labels` already there)."""
    order = epoch_order(cfg, epoch, len(labels))
    for s, x in enumerate(data.batches(epoch, order, cfg.batch_size)):
        yield x.to(device), labels[order[s * cfg.batch_size:(s + 1) * cfg.batch_size].to(device)]


def build_optimizer(method: PromptMethod, cfg: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum over the method's prompt parameters (CoOp's optimiser)."""
    critic = {id(p) for p in method.critic_parameters()}
    params = [p for p in method.parameters() if p.requires_grad and id(p) not in critic]
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def build_critic_optimizer(method: PromptMethod) -> torch.optim.Adam | None:
    """Adam at a constant lr for an MI critic, which must track the prompt rather than follow its schedule."""
    params = [p for p in method.critic_parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=method.cfg.critic_lr) if params else None


def as_training_set(method: PromptMethod, features, labels):
    """A training set as it is, or tensors (features or images, one or V views) checked and wrapped as one."""
    from .inputs import CachedViews, TrainingSet
    if isinstance(features, TrainingSet):
        return features
    if not isinstance(features, torch.Tensor) or not isinstance(labels, torch.Tensor):
        hint = " (a FeatureSet fs: pass fs.features, fs.labels)" if hasattr(features, "features") else ""
        raise BadInput(f"train() takes a training set (dpt.inputs.CachedViews or OnlineImages) or tensors with their "
                       f"labels, not {type(features).__name__}{hint}")
    want = 4 if method.encodes_images else 2
    if features.dim() not in (want, want + 1) or features.shape[-2 if want == 2 else -4] != len(labels):
        raise BadInput(f"{method.name} trains on {'images [N, 3, H, W]' if method.encodes_images else 'features [N, D]'}"
                       f" (or V views of them) with N labels; got {tuple(features.shape)} and {len(labels)} labels")
    width = method.backbone.embed_dim
    if not method.encodes_images and features.shape[-1] != width:
        raise BadInput(f"{method.name} trains on {method.backbone.name}'s image features, {width} numbers each; got "
                       f"{features.shape[-1]} (encode the images with this backbone: dpt.inputs.few_shot_features)")
    if labels.dim() != 1 or labels.is_floating_point() or labels.dtype == torch.bool or len(labels) and (
            int(labels.min()) < 0 or int(labels.max()) >= len(method.classnames)):
        raise BadInput(f"labels must be whole numbers 0..{len(method.classnames) - 1} (the method's "
                       f"{len(method.classnames)} classes); got {labels.dtype} in "
                       f"[{labels.min().item() if len(labels) else ''}, {labels.max().item() if len(labels) else ''}]")
    if features.dim() == want:  # one view
        features = features.unsqueeze(0)
    return CachedViews(features, labels)


def train(method: PromptMethod, features, labels: torch.Tensor | None, cfg: TrainConfig, out_dir=None,
          resume: bool = False, run_info: dict | None = None, progress: bool = True,
          stop_after_epoch: int | None = None, max_steps: int | None = None) -> list[dict]:
    """Train `method` on a training set (dpt.inputs) or on tensors (features [N, D] / [V, N, D], or images for
    methods that encode them); returns the per-step log. out_dir keeps the log and a checkpoint per epoch (resume
    goes on from it); stop_after_epoch and max_steps (mid-epoch) end a run early (tests, benchmarks)."""
    if not method.trainable:
        return []
    data, device = as_training_set(method, features, labels), method.hand.device
    labels = data.labels.to(device)
    check(len(labels) > 0, "no training samples: give at least one image per class")
    opt, critic_opt = build_optimizer(method, cfg), build_critic_optimizer(method)
    autocast, fp16 = autocast_for(device, cfg.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=fp16)
    steps = math.ceil(len(labels) / cfg.batch_size)
    end = min(cfg.epochs, cfg.epochs if stop_after_epoch is None else stop_after_epoch + 1,
              cfg.epochs if max_steps is None else math.ceil(max_steps / steps))
    identity = {"train": asdict(cfg), "method": method.name, "method_cfg": asdict(method.cfg),
                "classes": list(method.classnames), **(run_info or {})}
    with run_folder(out_dir, identity) as folder:
        start, history = folder.start(resume, method, opt, critic_opt, scaler)
        method.begin_training(data)
        method.train()
        bar = tqdm(range(start, end), desc=f"training {method.name}", disable=not progress, initial=start, total=end)
        for epoch in bar:
            lr = lr_at(cfg, epoch)
            for group in opt.param_groups:
                group["lr"] = lr
            torch.manual_seed(cfg.seed * 100_003 + epoch)  # random draws inside losses (mixup) per epoch
            batches = epoch_batches(data, labels, cfg, epoch, device)
            log = []
            for s, (x, y) in enumerate(islice(batches, None if max_steps is None else max_steps - epoch * steps)):
                with out_of_memory_said(method, cfg, device):
                    with autocast:
                        loss, terms = method.loss(x, y)
                    record = step_record(loss, terms, last=(log or history or [None])[-1], epoch=epoch,
                                         step=epoch * steps + s, lr=lr)
                    scale = scaler.get_scale() if fp16 else None
                    optimizer_step(method, loss, terms, [o for o in (opt, critic_opt) if o], scaler)
                log.append(record if scale is None else {**record, "loss_scale": scale,
                                                         "skipped": scaler.get_scale() < scale})
            history += log
            method.end_epoch(epoch, cfg.epochs)
            bar.set_postfix(loss=f"{sum(r['loss'] for r in log) / len(log):.3f}", lr=f"{lr:.2e}")
            folder.end_epoch(epoch, log, history, method, opt, critic_opt, scaler)
        method.end_training(data)
    check_finite_parameters(method)
    method.eval()
    return history


def step_record(loss: torch.Tensor, terms: dict, last: dict | None, **where) -> dict:
    """A step's log record; a non-finite loss or term stops the run, saying where and what was last finite."""
    record = {**where, "loss": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}
    if not all(math.isfinite(v) for k, v in record.items() if k not in where):
        raise NonFiniteLoss(f"non-finite loss at epoch {where['epoch']}, step {where['step']}: {record}. "
                            f"Last finite values: {last or 'none (first step)'}. "
                            "Lower the learning rate or the MI weight, or check the input features.")
    return record


@contextmanager
def out_of_memory_said(method: PromptMethod, cfg: TrainConfig, device):
    """torch's out-of-memory error as one line saying what to lower."""
    try:
        yield
    except torch.OutOfMemoryError:
        raise OutOfMemory(f"out of memory on {device} training {method.name} at batch_size {cfg.batch_size} with "
                          f"{len(method.classnames)} classes in {resolved_precision(device, cfg.precision)}: lower "
                          "batch_size, train in fp16 (precision='fp16'), or train on fewer classes at a time; "
                          "benchmarks/memory_table.py (results/memory.json) lists what each method needs on "
                          "ViT-B/16") from None


def check_finite_parameters(method: PromptMethod) -> None:
    """The last update can break the weights even when every loss was finite."""
    bad = [n for n, p in method.named_parameters() if p.requires_grad and not torch.isfinite(p).all()]
    if bad:
        raise NonFiniteLoss(f"training ended with non-finite parameters ({', '.join(bad)}); lower the learning "
                            "rate or the MI weight, or check the input features")
