"""What does the shipped miniclip know? Zero-shot naming of each ShapeWorld attribute, and a linear
probe of shape on its image features (vs the same architecture at random initialisation).

    python benchmarks/miniclip_probe.py --out results/miniclip_probe.json

Diagnoses the miniature's known gap (docs/miniature.md): colour, style, size and background are named
well; position and shape are not, and a linear probe finds little shape information in the image
features, so the gap is in the vision tower, not in the prompts. Then miniclip-v2 (a residual convolutional stem
before its ViT, pretrained on the object world, dpt/data/objects.py): zero-shot naming of the object's kind among
all of that world's kinds in each style, and its colour; both checkpoints' shape naming side by side.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dpt.experiments.command_line import cache_from_environment  # noqa: E402
from dpt.backbones import build_miniclip, load_miniclip  # noqa: E402
from dpt.data.world import BACKGROUNDS, COLOURS, POSITIONS, SHAPES, SceneSampler, render  # noqa: E402
from dpt.data.objects import KINDS  # noqa: E402
from dpt.experiments.pretrain import attribute_zero_shot, object_probes  # noqa: E402
from dpt.experiments.pretrain import to_tensor  # noqa: E402
from dpt.experiments.writers import write_record  # noqa: E402

STYLE_WORDS = {"photo": "photo of", "sketch": "sketch of", "pixel": "pixel art of"}


def shape_probe(model, n_train=3000, n_test=1000, seed=5):
    """Accuracy of a linear classifier of the main object's shape on frozen, normalised image features."""
    rng = np.random.default_rng(seed)
    sampler = SceneSampler(styles=("photo",), max_distractors=0, shades=("plain",), shade_p=None)
    scenes = [sampler.sample(rng) for _ in range(n_train + n_test)]
    x = to_tensor(np.stack([np.asarray(render(s)) for s in scenes]))
    y = torch.tensor([SHAPES.index(s.main.shape) for s in scenes])
    with torch.no_grad():
        f = F.normalize(model.eval().encode_image(x), dim=-1)
    torch.manual_seed(0)
    probe = torch.nn.Linear(f.shape[1], len(SHAPES))
    opt = torch.optim.Adam(probe.parameters(), lr=1e-2)
    for _ in range(500):
        loss = F.cross_entropy(probe(f[:n_train] * 10), y[:n_train])
        opt.zero_grad(), loss.backward(), opt.step()
    return float((probe(f[n_train:] * 10).argmax(-1) == y[n_train:]).float().mean() * 100)


def main(argv=None):
    cache_from_environment()  # $DPT_CACHE, as the commands read it
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/miniclip_probe.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    record = {"command": " ".join(["python benchmarks/miniclip_probe.py", *(argv if argv is not None else sys.argv[1:])]),
              "miniclip": {}}
    model, tok = load_miniclip().eval(), open_clip.get_tokenizer("ViT-B-16")
    plain = SceneSampler(max_distractors=0)
    checks = {
        "colour": (SceneSampler(max_distractors=0, shades=("plain",), shade_p=None), lambda s: s.main.colour,
                   list(COLOURS), "a photo of a {} object.", 1 / len(COLOURS)),
        "shape": (plain, lambda s: s.main.shape, list(SHAPES), "a photo of a {}.", 1 / len(SHAPES)),
        "style": (plain, lambda s: STYLE_WORDS[s.style], list(STYLE_WORDS.values()), "a {} an object.", 1 / 3),
        "size": (plain, lambda s: s.main.size, ["small", "big"], "a photo of a {} object.", 1 / 2),
        "background": (plain, lambda s: s.background, list(BACKGROUNDS), "an object on a {} background.", 1 / 4),
        "position": (SceneSampler(max_distractors=0, sizes=("small",)), lambda s: s.main.position, list(POSITIONS),
                     "an object at the {}.", 1 / len(POSITIONS)),
        "shade": (plain, lambda s: s.main.shade, ["plain", "light", "dark"], "a photo of a {} object.", None),
    }
    print(f"{'attribute':<11} {'zero-shot %':>11} {'chance %':>9}")
    for name, (sampler, attr, vocab, template, chance) in checks.items():
        acc = attribute_zero_shot(model, tok, sampler, attr, vocab, template, n=500, seed=1)
        record["miniclip"][name] = round(acc, 2)
        print(f"{name:<11} {acc:11.1f} {'' if chance is None else f'{100 * chance:9.1f}'}")
    torch.manual_seed(0)
    trained, random = shape_probe(model), shape_probe(build_miniclip())
    record["miniclip"]["shape_linear_probe"], record["miniclip"]["shape_linear_probe_random_init"] = trained, random
    print(f"linear probe of shape: miniclip {trained:.1f}%, "
          f"random-init miniclip {random:.1f}% (chance {100 / len(SHAPES):.1f}%)")
    v2 = object_probes(load_miniclip(version="miniclip-v2").eval(), tok)
    record["miniclip-v2"] = v2
    print(f"\nminiclip-v2, zero-shot on fresh object scenes: kind among {len(KINDS)} (chance {100 / len(KINDS):.1f}%): "
          + ", ".join(f"{k.split('_')[1]} {v:.1f}%" for k, v in v2.items() if k.startswith("kind"))
          + f"; colour {v2['colour_photo']:.1f}%")
    record["shape_naming"] = {"miniclip": {"zero_shot": record["miniclip"]["shape"], "chance": round(100 / len(SHAPES), 2)},
                              "miniclip-v2": {"zero_shot": v2["kind_photo"], "chance": round(100 / len(KINDS), 2)}}
    print(f"shape naming (photos): miniclip {record['miniclip']['shape']:.1f}% of {len(SHAPES)} shapes, "
          f"miniclip-v2 {v2['kind_photo']:.1f}% of {len(KINDS)} kinds")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, record, "benchmarks/miniclip_probe.py")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
