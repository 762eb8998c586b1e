"""Miniature-v3 pilots: "species" (object kind x colour) named by made-up words, learned from captions that use the
name only part of the time. One pilot = a short continuation of miniclip-v2 from its shipped checkpoint on a species
world, then the diagnostics and the eight methods (seed 1, val, 16 shots, each at its reference recipe through the
miniature-v2 profile with use_recipes=True) on one downstream dataset of the species. One row per pilot is appended
to results/pilots/miniature_v3_pilots.json (dpt.experiments.writers.write_record).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pilots/species.py --name anchor_p008 --mechanism anchor \
        --p 0.08 --steps 300

Mechanisms (one knob each, the rest as the anchor: 6 kinds x 4 colours = 24 species, names of two syllables drawn
from 12, a random base/novel half of one photo dataset of the 24, p the same for every name):
  --split disjoint        novel species are made of kinds AND colours no base species shows (8 kinds x 6 colours:
                          base 4 kinds x 3 colours, novel the other 4 x 3; still 24 species)
  --p-tail R              long-tailed name familiarity: per-species p log-spaced over a factor R, mean p
  --syllables N           how many syllables names are built from (fewer: more BPE pieces shared by unrelated species)
  --steps N               more pretraining steps on the names
  --species-styles/--style  how often the species appear in each rendering in pretraining / the dataset's rendering

Nothing under dpt/ is edited: the species world is registered in dpt.experiments.pretrain.WORLDS at run time and
pretrained with dpt.experiments.pretrain.pretrain (its batches, loss and schedule).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from dpt.experiments import pretrain as P  # noqa: E402
from dpt.backbones import load_backbone  # noqa: E402
from dpt.data import objects as O  # noqa: E402
from dpt.data.dataset import ClassificationDataset, Item  # noqa: E402
from dpt.data.world import _article, with_style  # noqa: E402
from dpt.experiments.fidelity import EIGHT, criteria, spearman  # noqa: E402
from dpt.experiments.profiles import get_profile  # noqa: E402
from dpt.experiments.published import published  # noqa: E402
from dpt.files import atomic_save  # noqa: E402
from dpt.experiments.writers import write_record  # noqa: E402
from dpt.methods import METHODS  # noqa: E402
from dpt.run import base_to_novel  # noqa: E402
from miniature_v3_pilot import linear_probe  # noqa: E402  (the project's 16-shot probe on frozen base features)

WRITER = "benchmarks/pilots/species.py"
RECORD = ROOT / "results" / "pilots" / "miniature_v3_pilots.json"
SYLLABLES = ("zor", "bel", "mi", "tan", "ku", "ra", "vex", "lo", "pim", "dak", "su", "fen", "gar", "nol", "wib",
             "tes", "ska", "jun", "pe", "dro", "hap", "cil", "mon", "yat")
KINDS6, COLOURS4 = ("fish", "bird", "cat", "house", "tree", "boat"), ("red", "blue", "green", "yellow")
KINDS8, COLOURS6 = KINDS6 + ("car", "flower"), COLOURS4 + ("orange", "purple")
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


# ------------------------------------------------------------------------------------------------ the species world
@dataclasses.dataclass(frozen=True)
class SpeciesScene(O.ObjectScene):
    species: int = -1  # index into the world's species, -1: an ordinary scene


@dataclasses.dataclass
class SpeciesWorld:
    species: tuple  # ((kind, colour), ...)
    names: tuple  # made-up word per species
    p_name: tuple  # probability that a caption of a species scene uses its name
    frac: float = 0.5  # share of pretraining scenes that show a species
    styles: tuple = O.STYLES  # rendering of species scenes in pretraining
    style_p: tuple | None = None

    def sampler(self):
        return SpeciesSampler(self)


class SpeciesSampler:
    def __init__(self, world: SpeciesWorld):
        self.world, self.base = world, O.ObjectSampler()

    def sample(self, rng):
        w = self.world
        if rng.random() < w.frac:
            i = int(rng.integers(len(w.species)))
            kind, colour = w.species[i]
            style = str(rng.choice(w.styles, p=w.style_p))
            s = self.base.sample(rng, kind=kind, colour=colour, style=style)
            return SpeciesScene(**{f.name: getattr(s, f.name) for f in dataclasses.fields(s)}, species=i)
        s = self.base.sample(rng)
        return SpeciesScene(**{f.name: getattr(s, f.name) for f in dataclasses.fields(s)})


def species_caption(world: SpeciesWorld, scene, rng) -> str:
    """v2's caption, except that a species scene is named by its made-up word with probability p_name[species]
    (then the word replaces the main object's phrase; the rest of the caption is drawn as v2 draws it)."""
    i = getattr(scene, "species", -1)
    if i < 0 or rng.random() >= world.p_name[i]:
        return O.object_caption(scene, rng)
    text = _article(world.names[i])
    if scene.distractors and rng.random() < 0.3:
        text += f" {rng.choice(['and', 'next to', 'with'])} " + _article(scene.distractors[0].phrase(rng, p_size=0.5))
    if rng.random() < 0.15:
        text += f" on a {scene.background} background"
    return with_style(text, scene.style, rng)


def make_names(n: int, syllables: int, seed: int) -> list[str]:
    """n distinct two-syllable words from the first `syllables` syllables (fewer: more pieces shared)."""
    rng = np.random.default_rng(seed)
    pool = SYLLABLES[:syllables]
    combos = [a + b for a in pool for b in pool if a != b]
    if len(combos) < n:
        raise SystemExit(f"{syllables} syllables give {len(combos)} names, fewer than {n} species")
    return [combos[i] for i in rng.permutation(len(combos))[:n]]


def build_world(args):
    """The species, their names and name probabilities, and the base / novel order of the downstream dataset."""
    rng = np.random.default_rng(args.world_seed)
    if args.split == "disjoint":  # base: 4 kinds x 3 colours; novel: the other 4 kinds x the other 3 colours
        kinds, colours = list(KINDS8), list(COLOURS6)
        rng.shuffle(kinds), rng.shuffle(colours)
        base = [(k, c) for k in kinds[:4] for c in colours[:3]]
        novel = [(k, c) for k in kinds[4:] for c in colours[3:]]
        species = base + novel
        order = list(range(len(species)))  # base first
    else:
        species = [(k, c) for k in KINDS6 for c in COLOURS4]
        order = [int(i) for i in rng.permutation(len(species))]  # a random base / novel half
    n = len(species)
    names = make_names(n, args.syllables, args.world_seed)
    if args.p_tail > 1:  # log-spaced familiarity over a factor p_tail, mean p, in a random order over species
        w = np.exp(np.linspace(0, math.log(args.p_tail), n))
        w = w / w.mean() * args.p
        p_name = [float(min(1.0, v)) for v in w[rng.permutation(n)]]
    else:
        p_name = [args.p] * n
    styles = tuple(args.species_styles.split(",")) if args.species_styles else O.STYLES
    style_p = tuple(float(x) for x in args.species_style_p.split(",")) if args.species_style_p else None
    return SpeciesWorld(tuple(species), tuple(names), tuple(p_name), args.frac, styles, style_p), order


# ------------------------------------------------------------------------------------------------ the downstream data
TEMPLATES = {"photo": "a photo of a {}.", "sketch": "a sketch of a {}.", "pixel": "pixel art of a {}."}


def _load(source, sampler, seed):
    _, split, index, kind, colour = source
    return O.render_objects(sampler.sample(np.random.default_rng([seed, SPLIT_IDS[split], index]), kind=kind,
                                           colour=colour))


def species_dataset(world: SpeciesWorld, order: list[int], style: str, seed: int = 801,
                    per_class=(("train", 24), ("val", 30), ("test", 40))) -> ClassificationDataset:
    """The species in `order` (base = first half) named by their words, rendered in one `style`."""
    sampler = O.ObjectSampler(styles=(style,))
    splits = {}
    for split, n in per_class:
        splits[split] = tuple(Item(("species", split, label * n + i, *world.species[s]), label)
                              for label, s in enumerate(order) for i in range(n))
    name = f"species_{style}_" + hashlib.sha256(repr((world.names, world.species, order, seed)).encode()).hexdigest()[:10]
    return ClassificationDataset(name=name, classnames=tuple(world.names[s] for s in order), template=TEMPLATES[style],
                                 loader=partial(_load, sampler=sampler, seed=seed),
                                 meta=f"{sampler!r} {world.species} {order} {seed}", **splits)


# ------------------------------------------------------------------------------------------------ one pilot
def pretrain_species(world: SpeciesWorld, args, out: Path) -> dict:
    P.WORLDS["species"] = (world.sampler, partial(species_caption, world), O.render_objects)
    t0 = time.time()
    model, history, _, seconds = P.pretrain(
        steps=args.steps, batch_size=256, corpus_size=args.corpus, lr=args.lr, weight_decay=0.1, warmup=20, seed=0,
        workers=1, progress=False, init=str(ROOT / "dpt" / "assets" / "miniclip_v2.pt"), arch="miniclip-v2",
        world="species")
    atomic_save({k: v.half() for k, v in model.state_dict().items()}, out, kind="pilot checkpoint",
                own=lambda path: False)  # never replace a file: main() refuses a name whose checkpoint exists
    return {"loss_first50": round(float(np.mean([l for _, l in history[:50]])), 4),
            "loss_last50": round(float(np.mean([l for _, l in history[-50:]])), 4),
            "minutes": round((time.time() - t0) / 60, 2)}


def row_of(r):
    return {k: round(float(r[k]), 2) for k in ("base", "novel", "hm")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--mechanism", required=True, help="what this pilot varies against the anchor")
    ap.add_argument("--p", type=float, default=0.08, help="(mean) probability a species caption uses its name")
    ap.add_argument("--p-tail", type=float, default=1.0, help="ratio of the most to the least familiar name's p")
    ap.add_argument("--syllables", type=int, default=12)
    ap.add_argument("--split", choices=("random", "disjoint"), default="random")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--corpus", type=int, default=20_000)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--frac", type=float, default=0.5, help="share of pretraining scenes that show a species")
    ap.add_argument("--species-styles", default="", help="renderings of species scenes in pretraining (default all 3)")
    ap.add_argument("--species-style-p", default="", help="their probabilities (default uniform)")
    ap.add_argument("--style", default="photo", help="the downstream dataset's rendering")
    ap.add_argument("--main-style", default="photo", help="the pretraining's main rendering, for diagnostic 3")
    ap.add_argument("--world-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--methods", nargs="+", default=list(EIGHT))
    ap.add_argument("--checkpoint", default="", help="reuse this checkpoint instead of pretraining")
    ap.add_argument("--record", default=str(RECORD))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t_start = time.time()
    world, order = build_world(args)
    ckpt = Path(args.checkpoint) if args.checkpoint else Path(f"/tmp/species_pilots/{args.name}.pt")
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    if not args.checkpoint and ckpt.exists():
        raise SystemExit(f"{ckpt} exists: pass --checkpoint {ckpt} to reuse it, or choose another --name")
    pre = {"reused": str(ckpt)} if args.checkpoint else pretrain_species(world, args, ckpt)
    print("pretraining", pre, flush=True)
    profile = get_profile("miniature-v2").with_(use_recipes=True, pretrained=str(ckpt))
    bb = load_backbone(profile.backbone, pretrained=profile.pretrained, device=profile.device)
    ds = species_dataset(world, order, args.style)
    main_ds = species_dataset(world, order, args.main_style)
    got, seconds = {}, {}
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.time()
        probe = linear_probe(bb, ds)
        zs_main = row_of(base_to_novel(bb, main_ds, profile.run_config("zeroshot", args.seed, split="val"),
                                       cache_dir=cache, progress=False))
        print(f"linear probe base {probe}; zero-shot on {args.main_style} {zs_main} ({time.time() - t0:.0f} s)",
              flush=True)
        for m in args.methods:
            t0 = time.time()
            try:
                r = base_to_novel(bb, ds, profile.run_config(m, args.seed, split="val"), cache_dir=cache,
                                  progress=False)
                got[m] = row_of(r)
            except Exception as e:  # a failure is data
                got[m] = {"error": repr(e)[:300]}
            seconds[m] = round(time.time() - t0)
            print(f"  {m:<9} {got[m]}  ({seconds[m]} s)", flush=True)
    ok = all("hm" in got.get(m, {}) for m in EIGHT)
    zs = got.get("zeroshot", {})
    diagnostics = {
        "linear_probe_base": probe,
        "headroom": round(probe - zs.get("base", float("nan")), 2),
        "headroom_holds": probe >= zs.get("base", 1e9) + 10,
        "coop_novel_minus_zs": round(got["coop"]["novel"] - zs["novel"], 2) if "coop" in got and "novel" in got["coop"] else None,
        "zero_shot_main_rendering": zs_main,
        "rendering_gap": round((zs_main["base"] + zs_main["novel"]) / 2 - (zs.get("base", 0) + zs.get("novel", 0)) / 2, 2),
        "maple_novel_minus_zs": round(got["maple"]["novel"] - zs["novel"], 2) if "novel" in got.get("maple", {}) else None,
    }
    diagnostics["idiosyncratic_holds"] = diagnostics["coop_novel_minus_zs"] is not None and diagnostics["coop_novel_minus_zs"] <= -3
    diagnostics["domain_holds"] = diagnostics["rendering_gap"] >= 10 and (diagnostics["maple_novel_minus_zs"] or -99) >= -1
    phenomena, rho = {}, None
    if ok:
        c = criteria({m: got[m] for m in EIGHT})
        rho = c["ranking_spearman"]["rho"]
        phenomena = {k: {kk: vv for kk, vv in v.items() if kk not in ("ours_hm", "published_hm", "per_dataset")}
                     for k, v in c.items() if k != "ranking_spearman"}
        phenomena["maple_novel_at_least_zs_minus_1"] = {"change": diagnostics["maple_novel_minus_zs"],
                                                        "holds": got["maple"]["novel"] >= zs["novel"] - 1}
    row = {"name": args.name, "mechanism": args.mechanism,
           "settings": {k: v for k, v in vars(args).items() if k not in ("record", "methods", "name", "mechanism")},
           "world": {"species": [f"{c} {k}" for k, c in world.species], "names": list(world.names),
                     "p_name": [round(p, 4) for p in world.p_name], "base": [world.names[s] for s in order[:len(order) // 2]],
                     "novel": [world.names[s] for s in order[len(order) // 2:]]},
           "pretraining": pre, "diagnostics": diagnostics, "methods": got, "seconds": seconds,
           "phenomena_held": sum(v["holds"] for v in phenomena.values()) if phenomena else None,
           "phenomena": phenomena, "rho": rho, "minutes": round((time.time() - t_start) / 60, 2),
           "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pilots/species.py " + " ".join(argv or sys.argv[1:]),
           "split": "val", "seed": args.seed, "shots": 16}
    path = Path(args.record)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(path.read_text()) if path.is_file() else {}
    rows = [r for r in doc.get("pilots", []) if r["name"] != args.name] + [row]
    write_record(path, {"about": "miniature-v3 species pilots: one row per pilot (benchmarks/pilots/species.py)",
                        "published_hm": {m: published(m)["hm"] for m in EIGHT}, "pilots": rows}, WRITER)
    print(json.dumps({k: row[k] for k in ("name", "diagnostics", "methods", "phenomena_held", "rho", "minutes")}),
          flush=True)
    print(f"rho {rho}; {row['minutes']} min; written to {path}")


if __name__ == "__main__":
    main()
