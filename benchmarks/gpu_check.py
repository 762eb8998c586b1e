"""The real path's cost on a GPU, with nothing downloaded: a random-initialised ViT-B-16 on synthetic 224 px
images at ImageNet's scale (1,000 classes on the text side, a few thousand images on the image side).

    bash benchmarks/gpu_check.sh                    # on a CUDA machine: results/speed_gpu.json, under 8 minutes
    python benchmarks/gpu_check.py --small --device cpu --out /tmp/speed_gpu.json   # the same script, tiny

For each method, the ms per training step at its reference batch size (recipes.json) under dpt's default
precision, and the peak GPU memory of those steps; for the image encoder, images per second of feature
encoding. The weights are random, so the numbers are costs, not accuracies.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dpt.experiments.command_line import cache_from_environment  # noqa: E402
from dpt.backbones import load_backbone  # noqa: E402
from dpt.experiments.profiles import get_profile  # noqa: E402
from dpt.methods import MethodConfig, build_method  # noqa: E402
from dpt.precision import autocast_for, optimizer_step  # noqa: E402
from dpt.trainer import TrainConfig, build_critic_optimizer, build_optimizer, train  # noqa: E402
from dpt.experiments.writers import write_record  # noqa: E402

METHODS = ("coop", "cocoop", "kgcoop", "dpt", "ivlp", "maple", "promptsrc")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_reset(device):
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_mb(device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None


def time_steps(method, x, y, steps: int, device, precision: str) -> float:
    """Seconds per training step (forward, backward, optimiser) of `method` on batch (x, y), after a warm-up."""
    cfg = replace(get_profile("real").train_config(method.name, 1), precision=precision)
    opt, critic = build_optimizer(method, cfg), build_critic_optimizer(method)
    autocast, scaled = autocast_for(device, cfg.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=scaled)  # fp16: loss scaling, as the trainer runs it
    optimizers = [o for o in (opt, critic) if o is not None]

    def step():
        with autocast:
            loss, terms = method.loss(x, y)
        optimizer_step(method, loss, terms, optimizers, scaler)  # the trainer's own step
    step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - t0) / steps


def resume_check(backbone, device, names) -> dict:
    """A fp16 run stopped after its first epoch and resumed from the checkpoint ends as the uninterrupted run."""
    g = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(64, backbone.embed_dim, generator=g), dim=-1).to(device)
    y = (torch.arange(64) % len(names)).to(device)
    cfg = TrainConfig(epochs=3, batch_size=16, precision="fp16")
    losses = []
    with tempfile.TemporaryDirectory() as tmp:
        for out_dir, stop in ((Path(tmp) / "whole", None), (Path(tmp) / "stopped", 0), (Path(tmp) / "stopped", None)):
            torch.manual_seed(0)
            method = build_method("coop", backbone, names, "a photo of a {}.", MethodConfig())
            hist = train(method, x, y, cfg, out_dir=out_dir, resume=True, progress=False, stop_after_epoch=stop)
            losses.append([(h["loss"], h.get("loss_scale")) for h in hist])
    return {"same": losses[0] == losses[2], "steps": len(losses[0])}


def main(argv=None):
    cache_from_environment()  # $DPT_CACHE, as the commands read it
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--classes", type=int, default=500, help="ImageNet's base half, as benchmarks/memory_table.py")
    ap.add_argument("--precisions", nargs="+", default=["fp16", "bf16"], choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--images", type=int, default=4096, help="images encoded for the throughput figure")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--small", action="store_true", help="10 classes, 16 images, 1 step (a check of the script)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--out", default="results/speed_gpu.json")
    args = ap.parse_args(argv)
    if args.small:
        args.classes, args.images, args.steps = 10, 16, 1
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA GPU here: run on a GPU machine, or pass --device cpu --small to check the script")
    torch.manual_seed(0)
    t_start = time.perf_counter()
    backbone = load_backbone("ViT-B-16", pretrained=None, device=args.device)
    out = {"backbone": "ViT-B-16 (random weights)", "device": str(device), "classes": args.classes,
           "machine": {"gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
                       "platform": platform.platform(), "torch": torch.__version__}, "methods": {}}
    images = torch.randn(args.images, 3, 224, 224)
    batch = 256 if device.type == "cuda" else 8
    peak_reset(device)
    backbone.encode_images(images[:batch].to(device))
    sync(device)
    t0 = time.perf_counter()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        for s in range(0, len(images), batch):
            backbone.encode_images(images[s:s + batch].to(device, non_blocking=True))
    sync(device)
    out["encode"] = {"images_per_sec": len(images) / (time.perf_counter() - t0), "batch": batch,
                     "peak_mem_mb": peak_mb(device)}
    print(f"feature encoding: {out['encode']['images_per_sec']:.0f} images/s (batch {batch})", flush=True)
    names = [f"class {i}" for i in range(args.classes)]
    for precision in args.precisions:
        for name in args.methods:
            cfg = get_profile("real").train_config(name, 1)
            torch.manual_seed(0)
            peak_reset(device)
            method = build_method(name, backbone, names, "a photo of a {}.", MethodConfig())
            bs = cfg.batch_size
            x = (torch.randn(bs, 3, 224, 224, device=device) if method.encodes_images
                 else F.normalize(torch.randn(bs, backbone.embed_dim, device=device), dim=-1))
            y = torch.randint(0, args.classes, (bs,), device=device)
            sec = time_steps(method, x, y, args.steps, device, precision)
            row = {"ms_per_step": 1000 * sec, "batch_size": bs, "peak_mem_mb": peak_mb(device), "steps_timed": args.steps}
            out["methods"][f"{name} {precision}"] = row
            print(f"{name:<10} {precision} {1000 * sec:9.1f} ms/step (batch {bs})  peak {row['peak_mem_mb'] or 0:8.0f} MB",
                  flush=True)
            del method
            if device.type == "cuda":
                torch.cuda.empty_cache()
    out["resume"] = resume_check(backbone, device, names[:10])
    print(f"resume in fp16: {'the same run' if out['resume']['same'] else 'NOT the same run'}", flush=True)
    out["minutes"] = (time.perf_counter() - t_start) / 60
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, out, "benchmarks/gpu_check.py")
    print(f"written to {args.out} in {out['minutes']:.1f} min")


if __name__ == "__main__":
    main()
