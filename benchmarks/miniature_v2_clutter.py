"""Why the v2 datasets have clutter: zero-shot miniclip-v2 on each v2 dataset's val split (base and novel halves,
each scored among its own classes), without and with the clutter of dpt.data.miniature.CLUTTER.

    python benchmarks/miniature_v2_clutter.py --out results/miniature-v2/clutter.json

Real CLIP (ViT-B/16) names 69 / 74% of base / novel images zero-shot on the 11 benchmarks; a miniature far above
that leaves prompt tuning nothing to fit."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dpt.experiments.command_line import cache_from_environment  # noqa: E402
from dpt.backbones import load_backbone  # noqa: E402
from dpt.data import miniature as M  # noqa: E402
from dpt.experiments.writers import write_record  # noqa: E402

SETTINGS = {"no clutter": {"max_distractors": 2, "p_distractor": 0.35, "distractor_size": "small"},
            "clutter (shipped)": M.CLUTTER}


@torch.no_grad()
def zero_shot(bb, name: str, sampler: dict) -> dict:
    spec = M.OBJECT_SPECS[name]
    M.OBJECT_SPECS[name] = dataclasses.replace(spec, sampler=dataclasses.replace(spec.sampler, **sampler))
    try:
        ds = M.load_object_dataset(name, {"train": 1, "val": spec.per_class["val"], "test": 1})
        images = torch.stack([bb.preprocess(ds.load_image(it)) for it in ds.val])
    finally:
        M.OBJECT_SPECS[name] = spec
    text = bb.encode_prompts([ds.template.format(c) for c in ds.classnames])
    f, y, nb = bb.encode_images(images), torch.tensor([it.label for it in ds.val]), len(ds.classnames) // 2
    out = {}
    for half, keep, cls in (("base", y < nb, slice(0, nb)), ("novel", y >= nb, slice(nb, None))):
        pred = (f[keep] @ text[cls].T).argmax(1) + (cls.start or 0)
        out[half] = round(100 * (pred == y[keep]).float().mean().item(), 1)
    return out


def main(argv=None):
    cache_from_environment()  # $DPT_CACHE, as the commands read it
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/miniature-v2/clutter.json")
    args = ap.parse_args(argv)
    bb = load_backbone("miniclip-v2")
    rows = []
    for setting, sampler in SETTINGS.items():
        for name in M.MINIATURE_V2_DATASETS:
            r = {"setting": setting, "dataset": name, **zero_shot(bb, name, sampler)}
            rows.append(r)
            print(f"{setting:<18} {name:<12} base {r['base']:5.1f}  novel {r['novel']:5.1f}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, {"command": "python benchmarks/miniature_v2_clutter.py", "split": "val",
                            "clutter": M.CLUTTER, "rows": rows}, "benchmarks/miniature_v2_clutter.py")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
