"""Mixed precision for the trainer: which autocast a device gets, and fp16's loss scaling around each step."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


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


def autocast_for(device: torch.device, precision: str):
    """(the autocast context of `precision` on `device`, whether it needs fp16's loss scaling)."""
    kind = resolved_precision(device, precision)
    if kind == "fp32":
        return torch.autocast(device.type, enabled=False), False
    dtype = torch.bfloat16 if kind == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype), dtype == torch.float16


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


def optimizer_step(method, loss: torch.Tensor, terms: dict, optimizers: list, scaler: torch.amp.GradScaler) -> None:
    """One update of every optimizer from `loss` through the scaler (a no-op outside fp16), which skips a step
    with an inf/NaN gradient."""
    for o in optimizers:
        o.zero_grad(set_to_none=True)
    method.backward(loss, terms, Scaling(scaler, optimizers))
    for o in optimizers:  # one without gradients (a critic whose MI weight is 0) has nothing to step or check
        if any(p.grad is not None for group in o.param_groups for p in group["params"]):
            scaler.step(o)
    scaler.update()
