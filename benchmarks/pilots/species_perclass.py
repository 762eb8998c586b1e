"""Per-species zero-shot accuracy of a species pilot's checkpoint against its names' caption probability (is a name's
zero-shot error set by how often captions used it?). Reads the pilot's row in results/pilots/miniature_v3_pilots.json
and its checkpoint under /tmp/species_pilots/, prints and returns {name: (p, half, accuracy within its half)}.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pilots/species_perclass.py longtail_p008
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import species as S  # noqa: E402
from dpt.backbones import tokenize  # noqa: E402


@torch.no_grad()
def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    doc = json.loads(S.RECORD.read_text())
    row = next(r for r in doc["pilots"] if r["name"] == args.name)
    st = row["settings"]
    ns = argparse.Namespace(**{k: st[k] for k in ("world_seed", "split", "syllables", "p", "p_tail", "species_styles",
                                                  "species_style_p", "frac")})
    world, order = S.build_world(ns)
    bb = S.load_backbone("miniclip-v2", pretrained=st["checkpoint"] or f"/tmp/species_pilots/{args.name}.pt")
    ds = S.species_dataset(world, order, st["style"])
    half = len(order) // 2
    out = {}
    for part, labels in (("base", range(half)), ("novel", range(half, len(order)))):
        names = [ds.classnames[i] for i in labels]
        text = F.normalize(bb.model.encode_text(tokenize(bb.tokenizer, [ds.template.format(n) for n in names],
                                                         bb.context_length)), dim=-1)
        for j, lab in enumerate(labels):
            items = [it for it in ds.val if it.label == lab]
            img = bb.encode_images(torch.stack([bb.preprocess(ds.load_image(it)) for it in items]))
            acc = float(((F.normalize(img, dim=-1) @ text.T).argmax(1) == j).float().mean() * 100)
            out[ds.classnames[lab]] = (world.p_name[order[lab]], part, round(acc, 1))
    for n, (p, part, acc) in sorted(out.items(), key=lambda kv: -kv[1][0]):
        print(f"{n:<10} p {p:.3f} {part:<5} zero-shot {acc:5.1f}")
    ps, accs = np.array([v[0] for v in out.values()]), np.array([v[2] for v in out.values()])
    from dpt.experiments.fidelity import spearman
    print("spearman(p, accuracy) =", round(spearman(list(ps), list(accs)), 2))
    return out


if __name__ == "__main__":
    main()
