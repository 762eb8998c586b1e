"""Prompt-training speed: a CoOp-style reference loop against dpt's trainer, side by side.

    python benchmarks/train_speed.py --out results/speed.json

Both ways train the same CoOp prompt (same initial context, same few-shot images, same batches, same
SGD schedule, same number of steps) in this one process:

* reference: what the CoOp/KgCoOp code does. Every step loads the batch's images and transforms
  them (the data loader's work; rendering a miniature image costs about what decoding a JPEG does),
  pushes them through the frozen image encoder and the prompts of every class through the text encoder at full context
  length (77 tokens for ViT-B-16), in fp32.
* dpt: image features are encoded once (the cache; `setup_sec`) and the image encoder leaves the
  loop; prompts are cut after the longest EOT token (exact under causal attention); on CUDA the
  step runs under mixed precision.

CoCoOp (`run_cocoop`): the reference runs the text encoder once per image in a Python loop; dpt sends
all B x C prompts of a batch through it in one forward. Both use the same trainer, cached features and
batches, and must give the same losses.

Same objective, different cost: the script checks that both reach the same final loss and the same
accuracy and exits non-zero if they do not. `sec_per_step` excludes one-off setup; `setup_sec` is
the one-off feature encoding of the dpt way (paid once per dataset, then reused by every run).

Efficiency (`efficiency`): the FLOP rate of dpt's training step (CoOp's and dpt's own, counted with
torch.utils.flop_counter.FlopCounterMode over a forward and backward) over the matrix-multiply rate of the
same precision measured in this process (square matrices of 1536), per backbone and precision (bf16 where
the CPU has native bf16 units). `profile` lists the ops that take the step's time (torch.profiler).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dpt.experiments.command_line import cache_from_environment  # noqa: E402
from dpt.backbones import load_backbone  # noqa: E402
from dpt.data import few_shot, load_dataset, subsample_classes  # noqa: E402
from dpt.evaluate import accuracy  # noqa: E402
from dpt.methods import CoCoOp, MethodConfig, build_method  # noqa: E402
from dpt.text_encoder import TextEncoder  # noqa: E402
from dpt.precision import autocast_for, cpu_native  # noqa: E402
from dpt.trainer import TrainConfig, build_optimizer, epoch_order, lr_at, train  # noqa: E402
from dpt.experiments.writers import write_record  # noqa: E402

# shots per class, classes, batch size and steps per backbone: enough steps to time on a CPU
PROFILES = {
    "miniclip": dict(pretrained="default", classes=12, shots=16, batch_size=32, steps=40),
    "ViT-B-16": dict(pretrained=None, classes=12, shots=2, batch_size=8, steps=5),
}


class PeakMemory:
    """Peak memory while the block runs, in MB: CUDA's allocator peak, or on the CPU the growth of the
    process's resident set above its level at entry (sampled every 2 ms)."""

    def __init__(self, device: torch.device):
        self.device, self.peak_mb = device, 0.0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self):
        while not self._stop.is_set():
            self._max = max(self._max, self._rss())
            time.sleep(0.002)

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
        elif Path("/proc/self/statm").exists():
            self._base = self._max = self._rss()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak_mb = (torch.cuda.max_memory_allocated() - self._base) / 2**20
        elif hasattr(self, "_thread"):
            self._stop.set()
            self._thread.join()
            self.peak_mb = (self._max - self._base) / 2**20


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def reference_coop(backbone, method, load, labels, cfg: TrainConfig, steps: int) -> list[float]:
    """CoOp's loop: load + transform, image encoder and full-length text encoder at every step, fp32.
    `load(indices)` returns the batch of preprocessed images. Returns the step losses."""
    model, learner = backbone.model, method.prompt_learner
    opt = build_optimizer(method, cfg)  # the trainer's optimiser: same SGD, same parameters
    n = len(labels)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    losses = []
    for step in range(steps):
        epoch, s = divmod(step, steps_per_epoch)
        if s == 0:
            order = epoch_order(cfg, epoch, n)
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, epoch)
        idx = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
        with torch.no_grad():
            img = F.normalize(model.encode_image(load(idx).to(backbone.device)).float(), dim=-1)
        text = F.normalize(learner.text_encoder(learner.prompt_embeddings(), learner.eot_index, truncate=False), dim=-1)
        loss = F.cross_entropy(method.logit_scale * img @ text.T, labels[idx].to(backbone.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _setup(backbone_name: str, device: str, profile: dict, dataset: str, seed: int):
    backbone = load_backbone(backbone_name, pretrained=profile["pretrained"], device=device)
    ds = subsample_classes(load_dataset(dataset), "base")
    keep = set(range(min(profile["classes"], len(ds.classnames))))
    ds_items = [it for it in few_shot(ds.train, profile["shots"], seed) if it.label in keep]
    classnames = ds.classnames[:len(keep)]
    def load(indices):  # what a CoOp data loader does for each batch: read (render) and transform
        return torch.stack([backbone.preprocess(ds.load_image(ds_items[int(i)])) for i in indices])
    labels = torch.tensor([it.label for it in ds_items])
    test_items = [it for it in ds.test if it.label in keep][: 8 * len(keep)]
    test_images = torch.stack([backbone.preprocess(ds.load_image(it)) for it in test_items])
    test_labels = torch.tensor([it.label for it in test_items])
    return backbone, ds, classnames, load, labels, test_images, test_labels


@torch.no_grad()
def _encode(backbone, images, batch_size=64):
    return torch.cat([backbone.encode_images(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def run_backbone(backbone_name: str, device: str = "cpu", dataset: str = "mini_toys", seed: int = 1,
                 steps: int | None = None, repeats: int = 1) -> dict:
    """Time both ways on one backbone; returns rows, the speed-up and the equality check."""
    profile = dict(PROFILES[backbone_name])
    if steps:
        profile["steps"] = steps
    backbone, ds, classnames, load, labels, test_images, test_labels = _setup(backbone_name, device, profile,
                                                                                dataset, seed)
    dev = backbone.device
    steps = profile["steps"]
    n = len(labels)
    epochs = math.ceil(steps / math.ceil(n / profile["batch_size"]))
    cfg = TrainConfig(epochs=max(epochs, 2), batch_size=profile["batch_size"], seed=seed, warmup_epochs=0)
    test_features = _encode(backbone, test_images)

    def fresh_method():
        torch.manual_seed(seed)
        return build_method("coop", backbone, classnames, ds.template, MethodConfig())

    rows, results = [], {}
    for mode in ("reference", "dpt"):
        best, peak = math.inf, None
        for _ in range(repeats):
            method = fresh_method()
            setup = 0.0
            with PeakMemory(dev) as mem:
                if mode == "reference":
                    _sync(dev)
                    t0 = time.perf_counter()
                    losses = reference_coop(backbone, method, load, labels, cfg, steps)
                    _sync(dev)
                    elapsed = time.perf_counter() - t0
                else:
                    t0 = time.perf_counter()
                    features = _encode(backbone, load(range(len(labels))))  # the feature cache, built once
                    _sync(dev)
                    setup = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    history = train(method, features, labels, cfg, progress=False, max_steps=steps)
                    _sync(dev)
                    elapsed = time.perf_counter() - t0
                    losses = [h["loss"] for h in history]
            best = min(best, elapsed / steps)
            peak = mem.peak_mb if peak is None else peak  # the first run: later ones reuse freed memory
        acc = accuracy(method, test_features, test_labels)
        results[mode] = {"losses": losses, "accuracy": acc}
        rows.append({"backbone": backbone_name, "mode": mode, "device": str(dev), "sec_per_step": best,
                     "setup_sec": setup, "peak_mem_mb": round(peak, 1), "final_loss": losses[-1],
                     "accuracy": acc, "steps": steps, "batch_size": cfg.batch_size, "classes": len(classnames),
                     "text_tokens": backbone.context_length if mode == "reference"
                     else int(method.prompt_learner.eot_index.max()) + 1})
    ref, fast = results["reference"], results["dpt"]
    # fp32 on both sides: equal to float rounding; with mixed precision on CUDA: a looser bound
    tol = 2e-2 if dev.type == "cuda" else 1e-3
    loss_gap = max(abs(a - b) / max(1e-6, abs(a)) for a, b in zip(ref["losses"], fast["losses"]))
    equal = {"max_rel_loss_gap": loss_gap, "tolerance": tol, "accuracy_gap": abs(ref["accuracy"] - fast["accuracy"]),
             "ok": loss_gap <= tol and abs(ref["accuracy"] - fast["accuracy"]) <= (2.0 if dev.type == "cuda" else 0.0)}
    return {"rows": rows, "speedup": rows[0]["sec_per_step"] / rows[1]["sec_per_step"], "equal": equal}


class PerImageCoCoOp(CoCoOp):
    """CoCoOp as the reference code runs it: the text encoder once per image, in a Python loop."""

    def conditional_text_features(self, image_features):
        pl = self.prompt_learner
        shift = self.meta_net(image_features.to(pl.ctx.dtype))
        return torch.stack([F.normalize(pl(pl.ctx + shift[b].view(1, 1, -1)), dim=-1) for b in range(len(shift))])


def run_cocoop(backbone_name: str, device: str = "cpu", dataset: str = "mini_toys", seed: int = 1,
               steps: int | None = None, repeats: int = 1) -> dict:
    """CoCoOp's per-image loop against dpt's batched forward: same trainer, features, batches and steps."""
    profile = dict(PROFILES[backbone_name])
    steps = steps or profile["steps"]
    backbone, ds, classnames, load, labels, _, _ = _setup(backbone_name, device, profile, dataset, seed)
    features = _encode(backbone, load(range(len(labels))))
    batch = CoCoOp.train_defaults["batch_size"]
    cfg = TrainConfig(epochs=max(2, math.ceil(steps / math.ceil(len(labels) / batch))), batch_size=batch, seed=seed,
                      warmup_epochs=0)
    rows, losses = [], {}
    for mode, cls in (("reference", PerImageCoCoOp), ("dpt", CoCoOp)):
        best = math.inf
        for _ in range(repeats):
            torch.manual_seed(seed)
            method = cls(backbone, classnames, ds.template, MethodConfig())
            _sync(backbone.device)
            t0 = time.perf_counter()
            history = train(method, features, labels, cfg, progress=False, max_steps=steps)
            _sync(backbone.device)
            best = min(best, (time.perf_counter() - t0) / steps)
        losses[mode] = [h["loss"] for h in history]
        rows.append({"backbone": backbone_name, "method": "cocoop", "mode": mode, "device": str(backbone.device),
                     "sec_per_step": best, "final_loss": losses[mode][-1], "steps": steps, "batch_size": batch,
                     "classes": len(classnames)})
    tol = 2e-2 if backbone.device.type == "cuda" else 1e-4
    gap = max(abs(a - b) / max(1e-6, abs(a)) for a, b in zip(losses["reference"], losses["dpt"]))
    return {"rows": rows, "speedup": rows[0]["sec_per_step"] / rows[1]["sec_per_step"],
            "equal": {"max_rel_loss_gap": gap, "tolerance": tol, "ok": gap <= tol}}


def matmul_rate(dtype: torch.dtype, device, n: int = 1536, reps: int = 8) -> float:
    """FLOP/s of an n x n matrix product in `dtype` on `device`, best of `reps` (after a warm-up)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    for _ in range(2):
        a @ b
    best = math.inf
    for _ in range(reps):
        _sync(torch.device(device))
        t0 = time.perf_counter()
        a @ b
        _sync(torch.device(device))
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def step_efficiency(backbone_name: str, method_name: str, precision: str, device: str = "cpu", classes: int = 50,
                    batch_size: int = 32, reps: int = 3, dataset: str = "mini_toys", seed: int = 1) -> dict:
    """FLOPs, time and FLOP rate of one training step of `method_name` (cached features, forward + backward +
    optimiser), and that rate over this process's matrix-multiply rate in the same precision."""
    from torch.utils.flop_counter import FlopCounterMode
    profile = dict(PROFILES[backbone_name], classes=classes)
    backbone = load_backbone(backbone_name, pretrained=profile["pretrained"], device=device)
    ds = load_dataset(dataset)
    names = [f"{c} {i}" for i in range(math.ceil(classes / len(ds.classnames))) for c in ds.classnames][:classes]
    torch.manual_seed(seed)
    method = build_method(method_name, backbone, names, ds.template, MethodConfig())
    x = F.normalize(torch.randn(batch_size, backbone.embed_dim, device=backbone.device), dim=-1)
    y = torch.randint(0, classes, (batch_size,), device=backbone.device)
    opt = build_optimizer(method, TrainConfig(epochs=2))
    autocast, _ = autocast_for(backbone.device, precision)

    def step():
        with autocast:
            loss, terms = method.loss(x, y)
        opt.zero_grad(set_to_none=True)
        method.backward(loss, terms)
        opt.step()
    step()  # warm-up
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    flops = counter.get_total_flops()
    best = math.inf
    for _ in range(reps):
        _sync(backbone.device)
        t0 = time.perf_counter()
        step()
        _sync(backbone.device)
        best = min(best, time.perf_counter() - t0)
    dtype = torch.bfloat16 if precision == "bf16" or (precision == "auto" and backbone.device.type == "cuda") else torch.float32
    peak = matmul_rate(dtype, backbone.device)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    top = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:8]
    total = sum(e.self_cpu_time_total for e in prof.key_averages()) or 1
    return {"backbone": backbone_name, "method": method_name, "precision": precision, "classes": classes,
            "batch_size": batch_size, "text_tokens": int(method.prompt_learner.eot_index.max()) + 1,
            "shared_prefix": method.prompt_learner.shared_prefix if TextEncoder.share_prefix else 0,
            "gflop_per_step": flops / 1e9, "sec_per_step": best, "gflops": flops / best / 1e9,
            "matmul_gflops": peak / 1e9, "efficiency": flops / best / peak,
            "profile": [{"op": e.key, "share": round(e.self_cpu_time_total / total, 3)} for e in top]}


def main(argv=None):
    cache_from_environment()  # $DPT_CACHE, as the commands read it
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbones", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=None, help="override the steps of every profile")
    ap.add_argument("--repeats", type=int, default=2, help="time each way this many times; keep the fastest")
    ap.add_argument("--out", default="results/speed.json")
    ap.add_argument("--no-efficiency", action="store_true", help="skip the FLOP-rate measurement")
    args = ap.parse_args(argv)
    out = {"rows": [], "speedup": {}, "equal": {}, "device": args.device,
           "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform(),
                       "torch": torch.__version__,
                       "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None}}
    for name in args.backbones:
        r = run_backbone(name, args.device, steps=args.steps, repeats=args.repeats)
        out["rows"] += r["rows"]
        out["speedup"][name] = r["speedup"]
        out["equal"][name] = r["equal"]
        for row in r["rows"]:
            print(f"{name:<9} {row['mode']:<9} {row['sec_per_step'] * 1000:9.1f} ms/step  "
                  f"setup {row['setup_sec']:6.2f} s  peak {row['peak_mem_mb']:7.1f} MB  "
                  f"loss {row['final_loss']:.4f}  acc {row['accuracy']:.1f}")
        print(f"{name:<9} speed-up x{r['speedup']:.1f}  same results: {r['equal']['ok']} "
              f"(max rel. loss gap {r['equal']['max_rel_loss_gap']:.1e})", flush=True)
        c = run_cocoop(name, args.device, steps=args.steps, repeats=args.repeats)
        out["rows"] += c["rows"]
        out["speedup"][f"{name}/cocoop"] = c["speedup"]
        out["equal"][f"{name}/cocoop"] = c["equal"]
        print(f"{name:<9} CoCoOp per-image loop {c['rows'][0]['sec_per_step'] * 1000:.1f} ms/step, batched "
              f"{c['rows'][1]['sec_per_step'] * 1000:.1f} ms/step: x{c['speedup']:.1f}, same losses: {c['equal']['ok']} "
              f"(max rel. gap {c['equal']['max_rel_loss_gap']:.1e})", flush=True)
    if not args.no_efficiency:
        precisions = ["fp32"] + (["bf16"] if args.device == "cpu" and cpu_native("bf16") else
                                 ["auto"] if args.device == "cuda" else [])
        out["efficiency"] = []
        for name in args.backbones:
            for method in ("coop", "dpt"):
                for precision in precisions:
                    e = step_efficiency(name, method, precision, args.device)
                    out["efficiency"].append(e)
                    print(f"{name:<9} {method:<5} {precision:<5} {e['gflop_per_step']:7.1f} GFLOP/step in "
                          f"{e['sec_per_step'] * 1000:7.1f} ms: {e['gflops']:6.1f} GFLOP/s, matmul {e['matmul_gflops']:6.1f}: "
                          f"efficiency {e['efficiency']:.2f}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, out, "benchmarks/train_speed.py")
    if not all(e["ok"] for e in out["equal"].values()):
        sys.exit("the two ways did not reach the same results: see 'equal' in " + args.out)


if __name__ == "__main__":
    main()
