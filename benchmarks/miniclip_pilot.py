"""Pilot for miniclip v2: which image tower (and which batches) learns to name objects by their shape?

    python benchmarks/miniclip_pilot.py --steps 600 --out results/miniclip_pilot.json

Each candidate pretrains from scratch on ShapeWorld v2 (dpt/data/objects.py) for the same number of
steps, batch size and corpus, and is probed zero-shot on held-out scenes every `--probe-every` steps:
the object's kind among all 67 (photo, sketch and pixel-art styles) and its colour. The text tower is the
same for all (miniclip-v2's). The winner's tower is miniclip-v2's (`dpt.backbones.MINICLIPS`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import open_clip
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dpt.experiments.command_line import cache_from_environment  # noqa: E402
from dpt.backbones import MINICLIPS  # noqa: E402
from dpt.experiments.pretrain import probes  # noqa: E402
from dpt.experiments.pretrain import pretrain  # noqa: E402
from dpt.experiments.writers import write_record  # noqa: E402

V2 = MINICLIPS["miniclip-v2"].cfg
TEXT = V2["text_cfg"]


def vit(width, layers, size=48, patch=8):
    return {"embed_dim": 128, "text_cfg": TEXT,
            "vision_cfg": dict(image_size=size, patch_size=patch, width=width, layers=layers, head_width=32, mlp_ratio=2.0)}


CANDIDATES = {  # name -> (config, conv stem, batch group size)
    "vit_w96_l4": (vit(96, 4), False, 1),            # v1's tower
    "vit_w96_l4_stem": (vit(96, 4), True, 1),
    "vit_w128_l6_stem": (vit(128, 6), True, 1),      # miniclip-v2
    "vit_w128_l6_stem_groups8": (vit(128, 6), True, 8),
    "resnet_w16_64px": ({"embed_dim": 128, "text_cfg": TEXT,
                         "vision_cfg": dict(image_size=64, layers=(1, 1, 1, 1), width=16, head_width=32)}, False, 1),
    "vit_w96_l4_resstem": (vit(96, 4), "res", 1),      # a hybrid ViT: residual stages make the tokens
}


def main(argv=None):
    cache_from_environment()  # $DPT_CACHE, as the commands read it
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--probe-every", type=int, default=200)
    ap.add_argument("--corpus-size", type=int, default=30_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="results/miniclip_pilot.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    record = json.loads(out.read_text()) if out.exists() else {"command": "python benchmarks/miniclip_pilot.py",
                                                                 "candidates": {}}
    tokenizer = open_clip.get_tokenizer("ViT-B-16")
    for name in args.candidates:
        cfg, stem, group = CANDIDATES[name]
        t0 = time.time()
        model, history, probe_log, seconds = pretrain(
            args.steps, 256, args.corpus_size, 1.5e-3, 0.1, 100, 0, workers=1, arch="pilot", world="objects",
            cfg=cfg, conv_stem=stem, group_size=group, probe_every=args.probe_every, progress=False,
            probe=lambda m: probes(m, tokenizer, "objects", cfg["vision_cfg"]["image_size"]))
        record["candidates"][name] = {
            "vision_cfg": cfg["vision_cfg"], "conv_stem": stem, "group_size": group, "steps": args.steps,
            "batch_size": 256, "corpus_size": args.corpus_size, "threads": args.threads,
            "vision_params": sum(p.numel() for p in model.visual.parameters()),
            "seconds_per_step": round(seconds / args.steps, 3), "wall_minutes": round((time.time() - t0) / 60, 1),
            "loss_curve": [[s, round(l, 4)] for s, l in history[::25]], "probes": probe_log}
        print(name, probe_log[-1], flush=True)
        write_record(out, record, "benchmarks/miniclip_pilot.py")


if __name__ == "__main__":
    main()
