"""One trainer for every method: SGD with Dassl's warm-up + cosine schedule (as the references build it) over
cached features or images; an MI critic gets its own Adam. Batch order and random draws are seeded by
(seed, epoch), so a run resumed from its epoch checkpoint ends with an uninterrupted run's numbers."""
from __future__ import annotations

import json
import math
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .config import check, check_numbers, flatten, from_dict
from .errors import BadInput, DptError, cause
from .files import Busy, append_lines, atomic_save, atomic_write_text, exclusive, ours_by_path
from .methods.base import PromptMethod
from .weights import tensors


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


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


class ConfigMismatch(DptError, ValueError):
    pass


class CorruptCheckpoint(BadInput):
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


def optimizer_step(method: PromptMethod, loss: torch.Tensor, terms: dict, optimizers: list,
                   scaler: torch.amp.GradScaler) -> None:
    """One update of every optimizer from `loss` through the scaler (a no-op outside fp16), which skips a step
    with an inf/NaN gradient."""
    for o in optimizers:
        o.zero_grad(set_to_none=True)
    method.backward(loss, terms, Scaling(scaler, optimizers))
    for o in optimizers:  # one without gradients (a critic whose MI weight is 0) has nothing to step or check
        if any(p.grad is not None for group in o.param_groups for p in group["params"]):
            scaler.step(o)
    scaler.update()


@dataclass
class Scaling:
    """What a method's backward needs of fp16 loss scaling: scale the loss; unscale the gradients (once per step)."""
    scaler: torch.amp.GradScaler
    optimizers: list

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        return self.scaler.scale(loss)

    def unscale_(self) -> None:
        """From here on every .grad holds the true gradient; an inf/NaN found now makes `step` skip the update."""
        for o in self.optimizers:
            self.scaler.unscale_(o)


def _diff(old: dict, new: dict) -> str:
    old, new = flatten(old), flatten(new)
    keys = sorted(set(old) | set(new))
    return "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k))


def cpu_native(precision: str) -> bool:
    """Whether this CPU multiplies `precision` natively (bf16: AVX-512 BF16 or AMX; fp16: AVX-512 FP16 or AMX-FP16):
    where autocast is fast, not emulated."""
    cpu = getattr(torch.backends, "cpu", None)
    try:
        ops = torch.ops.mkldnn
        return bool(ops._is_mkldnn_bf16_supported() if precision == "bf16" else ops._is_mkldnn_fp16_supported())
    except (AttributeError, RuntimeError):
        return precision == "bf16" and bool(cpu and cpu.get_cpu_capability() in ("AVX512_BF16", "AMX"))


def resolved_precision(device, precision: str) -> str:
    """fp32, bf16 or fp16 for this device: "auto" is fp32 on the CPU; bf16/fp16 there rehearse the GPU's path."""
    device = torch.device(device)
    if precision in ("fp16", "bf16"):
        if device.type == "cpu" and not cpu_native(precision):
            warnings.warn(f"precision {precision} on a CPU without native {precision} arithmetic is emulated: it "
                          "gives the GPU's mixed-precision code path, but runs slower than fp32", stacklevel=2)
        return precision
    if precision == "fp32" or device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _autocast(device: torch.device, precision: str):
    kind = resolved_precision(device, precision)
    if kind == "fp32":
        return torch.autocast(device.type, enabled=False), False
    dtype = torch.bfloat16 if kind == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype), dtype == torch.float16


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


def train(method: PromptMethod, features, labels: torch.Tensor | None, cfg: TrainConfig,
          out_dir: str | Path | None = None, resume: bool = False, run_info: dict | None = None,
          progress: bool = True, stop_after_epoch: int | None = None, max_steps: int | None = None) -> list[dict]:
    """Train `method` on a training set (dpt.inputs) or on tensors (features [N, D] / [V, N, D], or images for
    methods that encode them); returns the per-step log. max_steps stops mid-epoch (benchmarks)."""
    if out_dir is None:
        return _train(method, features, labels, cfg, None, resume, run_info, progress, stop_after_epoch, max_steps)
    try:
        with exclusive(Path(out_dir)):
            return _train(method, features, labels, cfg, out_dir, resume, run_info, progress, stop_after_epoch,
                          max_steps)
    except Busy:
        raise BadInput(f"another process is training this run in {out_dir} (its folder is locked); wait for it, or "
                       "give this one another out_dir") from None


def _train(method, features, labels, cfg, out_dir, resume, run_info, progress, stop_after_epoch, max_steps):
    """The training loop of `train` (out_dir, if any, is locked by the caller)."""
    if not method.trainable:
        return []
    device = method.hand.device
    data = as_training_set(method, features, labels)
    labels = data.labels.to(device)
    if len(labels) == 0:
        raise ValueError("no training samples")
    opt, critic_opt = build_optimizer(method, cfg), build_critic_optimizer(method)
    optimizers = [o for o in (opt, critic_opt) if o is not None]
    autocast, use_scaler = _autocast(device, cfg.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
    identity = {"train": asdict(cfg), "method": method.name, "method_cfg": asdict(method.cfg),
                "classes": list(method.classnames), **(run_info or {})}
    folder = RunFolder(out_dir, identity) if out_dir else None
    start_epoch, history = folder.start(resume, method, opt, critic_opt, scaler) if folder else (0, [])
    steps_per_epoch = math.ceil(len(labels) / cfg.batch_size)
    bar = tqdm(range(start_epoch, cfg.epochs), desc=f"training {method.name}", disable=not progress,
               initial=start_epoch, total=cfg.epochs)
    method.begin_training(data)
    method.train()
    last_finite: dict = {}
    for epoch in bar:
        if max_steps is not None and epoch * steps_per_epoch >= max_steps:
            break  # nothing left to run (a resume past max_steps): no epoch is checkpointed that did not train
        lr = lr_at(cfg, epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # random draws inside losses (mixup) per epoch
        epoch_log = []
        for s, (x, y) in enumerate(epoch_batches(data, labels, cfg, epoch, device)):
            step = epoch * steps_per_epoch + s
            if max_steps is not None and step >= max_steps:
                break
            with out_of_memory_said(method, cfg, device):
                record = training_step(method, x, y, autocast, optimizers, scaler, {"epoch": epoch, "step": step,
                                                                                    "lr": lr}, last_finite)
            epoch_log.append(last_finite := record)
        history += epoch_log
        method.end_epoch(epoch, cfg.epochs)
        if epoch_log:  # an epoch can run no step (max_steps reached)
            bar.set_postfix(loss=f"{sum(r['loss'] for r in epoch_log) / len(epoch_log):.3f}", lr=f"{lr:.2e}")
        if folder:
            folder.end_epoch(epoch, epoch_log, history, method, opt, critic_opt, scaler)
        if stop_after_epoch is not None and epoch >= stop_after_epoch or \
                max_steps is not None and (epoch + 1) * steps_per_epoch >= max_steps:
            break
    method.end_training(data)
    check_finite_parameters(method)
    method.eval()
    return history


def training_step(method, x, y, autocast, optimizers: list, scaler, record: dict, last_finite: dict) -> dict:
    """One optimisation step; its log record (with the fp16 loss scale and skips). A non-finite loss stops the run."""
    with autocast:
        loss, terms = method.loss(x, y)
    record = {**record, "loss": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}
    if not all(math.isfinite(v) for k, v in record.items() if k not in ("epoch", "step", "lr")):
        raise NonFiniteLoss(f"non-finite loss at epoch {record['epoch']}, step {record['step']}: {record}. "
                            f"Last finite values: {last_finite or 'none (first step)'}. "
                            "Lower the learning rate or the MI weight, or check the input features.")
    scale = scaler.get_scale() if scaler.is_enabled() else None
    optimizer_step(method, loss, terms, optimizers, scaler)
    if scale is not None:
        record["loss_scale"] = scale
        record["skipped"] = scaler.get_scale() < scale
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


class RunFolder:
    """A run's `log.jsonl` and `checkpoint.pt`, which records the run's identity so a changed resume is refused."""

    def __init__(self, out_dir, identity: dict):
        self.out, self.identity = Path(out_dir), identity
        self.checkpoint, self.log = self.out / "checkpoint.pt", self.out / "log.jsonl"

    def start(self, resume: bool, method, opt, critic_opt, scaler) -> tuple[int, list[dict]]:
        """(first epoch to train, the log so far): from the checkpoint with `resume`, else from nothing."""
        self.out.mkdir(parents=True, exist_ok=True)
        if not (resume and self.checkpoint.is_file()):
            self.log.unlink(missing_ok=True)
            return 0, []
        state = self._read(method.hand.device)
        try:
            method.load_state_dict(state["method"])
            opt.load_state_dict(state["optimizer"])
            if critic_opt is not None:
                critic_opt.load_state_dict(state["critic_optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise CorruptCheckpoint(f"cannot resume from {self.checkpoint}: its state does not fit this "
                                    f"{method.name} ({cause(e)}). To start this run fresh, delete it (rm "
                                    f"{self.checkpoint}) and run again.") from None
        if scaler.is_enabled() and state.get("scaler"):  # fp16: resume at the scale (and growth count) reached
            scaler.load_state_dict(state["scaler"])
        # the log rewritten to the checkpoint's history: drops steps logged after it (a kill between writes)
        atomic_write_text(self.log, "".join(json.dumps(r) + "\n" for r in state["history"]), kind="training log",
                          own=ours_by_path)
        return state["epoch"] + 1, state["history"]

    def _read(self, device) -> dict:
        path = self.checkpoint
        try:
            state = torch.load(path, map_location=device, weights_only=False)
        except Exception as e:
            raise CorruptCheckpoint(f"cannot resume from {path}: the file is unreadable ({type(e).__name__}). To "
                                    f"start this run fresh, delete it (rm {path}) and run again.") from e
        keys = {"identity", "method", "optimizer", "epoch", "history"}
        missing = sorted(keys - set(state)) if isinstance(state, dict) else sorted(keys)
        if missing or not tensors(state["method"]):
            what = f"without {', '.join(missing)}" if missing else "whose method state is not all tensors"
            raise CorruptCheckpoint(f"cannot resume from {path}: it is not a dpt training checkpoint (a "
                                    f"{type(state).__name__} {what}). To start this run fresh, delete it (rm "
                                    f"{path}) and run again.")
        if state["identity"] != self.identity:
            raise ConfigMismatch(f"refusing to resume {path}: the run's configuration changed "
                                 f"({_diff(state['identity'], self.identity)}). Use a new out_dir, or resume=False "
                                 "to start afresh.")
        return state

    def end_epoch(self, epoch: int, epoch_log: list[dict], history: list[dict], method, opt, critic_opt,
                  scaler) -> None:
        """The epoch's steps appended to the log, then the checkpoint replaced (atomically) by the state now."""
        append_lines(self.log, [json.dumps(r) + "\n" for r in epoch_log], kind="training log", own=ours_by_path)
        atomic_save({"identity": self.identity, "method": method.state_dict(), "optimizer": opt.state_dict(),
                     "critic_optimizer": critic_opt.state_dict() if critic_opt else None,
                     "scaler": scaler.state_dict(), "epoch": epoch, "history": history}, self.checkpoint,
                    kind="checkpoint", own=ours_by_path)
