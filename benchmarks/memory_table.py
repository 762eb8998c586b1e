"""Peak training memory per method at its reference recipe, on ViT-B/16's shapes, without a GPU.

    python benchmarks/memory_table.py            # results/memory.json, about a minute on 2 CPU cores
    python benchmarks/memory_table.py --classes 10 --methods coop --out /tmp/memory.json   # a quick check

What it measures: the bytes of every tensor alive at once (weights, activations saved for backward, gradients,
optimiser state), peak over two training steps (forward, backward, optimiser; the second step holds momentum).
The tensors live on torch's `meta` device, which has shapes and no data, so ViT-B/16 at ImageNet's 500 base
classes costs no arithmetic; a dispatch mode counts each new storage once (views share theirs) and frees it when
torch does. A CUDA run allocates the same tensors; its caching allocator adds rounding and fragmentation, and the
CUDA context adds about 0.3-0.5 GB, so the table's figures are a floor (`benchmarks/gpu_check.sh` measures
`torch.cuda.max_memory_allocated` where a GPU is lent).

Precisions: fp32, and fp16 as the references run it (CLIP cast to half: weights and activations in fp16; the
learned prompts in the model's dtype). dpt's own fp16 is autocast over fp32 weights, which adds per-layer fp16
copies of the frozen weights that autocast casts at each use; autocast does not run on `meta`, so that column is
the references' layout, not dpt's.

Each method runs its reference recipe (batch, prompt depth and tokens: dpt/experiments/recipes.json) with every
base class of ImageNet (500) on the text side; the text-prompt methods encode their batch with the frozen image
encoder at each step (no gradient), as the real profile's online augmentation does.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import weakref
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dpt.backbones import load_backbone  # noqa: E402
from dpt.experiments.profiles import get_profile  # noqa: E402
from dpt.experiments.recipes import recipes  # noqa: E402
from dpt.methods import METHODS, build_method  # noqa: E402
from dpt.precision import optimizer_step  # noqa: E402
from dpt.trainer import build_critic_optimizer, build_optimizer  # noqa: E402
from dpt.experiments.writers import write_record  # noqa: E402

GPUS = {"T4 (16 GB)": 15.0, "A100 (40 GB)": 39.4}  # GiB a PyTorch process can allocate on each (nvidia-smi's total)


class LiveBytes(TorchDispatchMode):
    """Counts the bytes of the meta storages that ops create, until torch frees them; `peak` is the most at once."""

    def __init__(self, baseline: int = 0):
        super().__init__()
        self.live, self.peak, self.alive = baseline, baseline, set()

    def _freed(self, key: int, nbytes: int) -> None:
        self.alive.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.is_meta:
                storage = t.untyped_storage()
                key = storage._cdata
                if key not in self.alive:
                    self.alive.add(key)
                    self.live += storage.nbytes()
                    weakref.finalize(storage, self._freed, key, storage.nbytes())
        self.peak = max(self.peak, self.live)
        return out


def tensor_bytes(*modules) -> int:
    """Bytes of the parameters and buffers of `modules`, each storage once (the text tower shares the model's)."""
    seen = {}
    for m in modules:
        for t in [*m.parameters(), *m.buffers()]:
            seen[t.untyped_storage()._cdata] = t.untyped_storage().nbytes()
    return sum(seen.values())


def peak_gib(backbone, name: str, classes: int) -> dict:
    recipe = get_profile("real").train_config(name, 1)
    names = [f"class {i}" for i in range(classes)]
    torch.manual_seed(0)
    backbone.model.logit_scale = torch.nn.Parameter(torch.tensor(math.log(100.0)), requires_grad=False)  # a number
    method = build_method(name, backbone, names, "a photo of a {}.")  # the frozen towers are on meta already
    method.to("meta", dtype=backbone.text_encoder.dtype)  # its prompts, nets and buffers too (fp16: the references
    # cast their learned modules to half as well, e.g. CoCoOp's meta-net)
    bs = recipe.batch_size
    size = backbone.model.visual.image_size
    images = torch.randn(bs, 3, *size, device="meta", dtype=backbone.model.visual.conv1.weight.dtype)
    y = torch.arange(bs, device="meta") % classes
    opts = [o for o in (build_optimizer(method, recipe), build_critic_optimizer(method)) if o is not None]
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    weights = tensor_bytes(backbone.model, backbone.text_encoder, method)
    counter = LiveBytes(weights)
    with counter:
        for _ in range(2):
            x = images if method.encodes_images else backbone.encode_images(images).to(backbone.text_encoder.dtype)
            loss, terms = method.loss(x, y)
            optimizer_step(method, loss, terms, opts, scaler)
            del loss, terms, x
    return {"batch_size": bs, "weights_gib": weights / 2**30, "peak_gib": counter.peak / 2**30}


def markdown(doc: dict) -> str:
    """The table in docs/performance.md: one row per method, the peak in both precisions, and where each fits."""
    by = {(r["method"], r["precision"]): r for r in doc["rows"]}
    gpus = list(doc["gpus_gib"])
    lines = ["| method | batch | fp32 peak (GiB) | fp16 peak (GiB) | " + " | ".join(gpus) + " |",
             "|---" * (4 + len(gpus)) + "|"]
    for name in dict.fromkeys(r["method"] for r in doc["rows"]):
        a, h = by[(name, "fp32")], by[(name, "fp16")]
        fits = ["fp32 and fp16" if a["fits"][g] else "fp16 only" if h["fits"][g] else "no" for g in gpus]
        lines.append(f"| {name} | {a['batch_size']} | {a['peak_gib']:.2f} | {h['peak_gib']:.2f} | " + " | ".join(fits) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", type=int, default=500, help="classes on the text side (ImageNet's base half: 500)")
    learning = [n for n, c in METHODS.items() if c.learns and n in recipes()["methods"]]
    ap.add_argument("--methods", nargs="+", default=learning, choices=learning)
    ap.add_argument("--out", default="results/memory.json")
    ap.add_argument("--table", action="store_true",
                    help="print the table in docs/performance.md from --out, measure nothing")
    args = ap.parse_args(argv)
    if args.table:
        print(markdown(json.loads(Path(args.out).read_text())))
        return
    rows = []
    for precision in ("fp32", "fp16"):
        torch.manual_seed(0)
        backbone = load_backbone("ViT-B-16", pretrained=None)
        if precision == "fp16":
            backbone.model.half()
        backbone.model.to("meta")
        backbone.text_encoder.to("meta")
        for name in args.methods:
            row = {"method": name, "precision": precision, **peak_gib(backbone, name, args.classes)}
            row["fits"] = {gpu: row["peak_gib"] <= cap for gpu, cap in GPUS.items()}
            rows.append(row)
            print(f"{name:<18} {precision}  batch {row['batch_size']:>3}  peak {row['peak_gib']:6.2f} GiB  "
                  + "  ".join(f"{g}: {'fits' if ok else 'does not fit'}" for g, ok in row["fits"].items()), flush=True)
    out = {"backbone": "ViT-B-16 (shapes only)", "classes": args.classes, "gpus_gib": GPUS,
           "machine": {"platform": platform.platform(), "torch": torch.__version__},
           "command": "python benchmarks/memory_table.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, out, "benchmarks/memory_table.py")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
