"""`python -m dpt base2novel`: train and evaluate every (method, dataset, seed), print and save a table.

    python -m dpt base2novel --methods zeroshot coop cocoop kgcoop dpt --datasets miniature \
        --seeds 1 2 3 --out results/base2novel.json

Finished runs (same method, dataset, seed and configuration) found in --out are skipped, so an
interrupted benchmark continues where it stopped; a run whose configuration changed replaces its old row. Real datasets and ViT-B-16 work unchanged:
    python -m dpt base2novel --backbone ViT-B-16 --data-root ~/data --datasets OxfordPets DTD ...
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
from dataclasses import asdict
from pathlib import Path

import torch

from .backbones import load_backbone
from .data import load_dataset, resolve_dataset_names
from .evaluate import RunConfig, base_to_novel
from .methods import METHODS, MethodConfig
from .trainer import TrainConfig

# Per-method training settings on top of TrainConfig (CoOp's SGD, lr 0.002, cosine, 1 warm-up epoch).
METHOD_TRAIN_DEFAULTS: dict[str, dict] = {
    "zeroshot": {},
    "coop": {},
    "kgcoop": {},
    "cocoop": {"batch_size": 8},  # one prompt set per image: small batches, as in CoCoOp
    "dpt": {},
}
# Defaults for the miniature (miniclip) profile, selected on the val split (see README).
MINIATURE_TRAIN = {"epochs": 30}


def run_config(method: str, seed: int, shots: int, miniature: bool, overrides: dict, method_overrides: dict,
               split: str = "test") -> RunConfig:
    train = {**(MINIATURE_TRAIN if miniature else {"epochs": 50}), **METHOD_TRAIN_DEFAULTS.get(method, {}), **overrides}
    return RunConfig(method=method, shots=shots, train=TrainConfig(seed=seed, **train),
                     method_cfg=MethodConfig.from_dict(method_overrides), eval_split=split)


def config_hash(run: RunConfig, backbone: str) -> str:
    d = {"backbone": backbone, "method": run.method, "shots": run.shots, "train": asdict(run.train),
         "method_cfg": asdict(run.method_cfg), "views": run.views, "split": run.eval_split}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and std over seeds per (method, dataset), plus each method's average over datasets."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["dataset"]), []).append(r)
    out = []
    for (m, d), rs in groups.items():
        s = {"method": m, "dataset": d, "n": len(rs)}
        for k in ("base", "novel", "hm"):
            vals = [r[k] for r in rs]
            s[k] = statistics.fmean(vals)
            s[k + "_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        out.append(s)
    for m in dict.fromkeys(r["method"] for r in rows):
        per = [s for s in out if s["method"] == m and s["dataset"] != "average"]
        avg = {"method": m, "dataset": "average", "n": len(per)}
        for k in ("base", "novel"):
            avg[k] = statistics.fmean(s[k] for s in per)
            avg[k + "_std"] = statistics.fmean(s[k + "_std"] for s in per)
        avg["hm"] = 2 * avg["base"] * avg["novel"] / max(1e-9, avg["base"] + avg["novel"])
        avg["hm_std"] = statistics.fmean(s["hm_std"] for s in per)
        out.append(avg)
    return out


def format_table(summary: list[dict]) -> str:
    w = max([10, *(len(s["method"]) for s in summary)])
    lines = [f"{'method':<{w}} {'dataset':<14} {'base':>13} {'novel':>13} {'HM':>13}"]
    for s in sorted(summary, key=lambda s: (s["dataset"] == "average", s["dataset"], s["method"])):
        cells = [f"{s[k]:6.2f} ± {s[k + '_std']:4.2f}" for k in ("base", "novel", "hm")]
        lines.append(f"{s['method']:<{w}} {s['dataset']:<14} " + " ".join(f"{c:>13}" for c in cells))
    return "\n".join(lines)


def _parse_sets(pairs: list[str]) -> dict:
    out = {}
    for p in pairs:
        if "=" not in p:
            raise SystemExit(f"--set expects key=value, got {p!r}")
        k, v = p.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def run_benchmark(methods, datasets, seeds, out, shots=16, backbone_name="miniclip", pretrained="default",
                  data_root=None, cache_dir=None, runs_dir=None, train_overrides=None, method_overrides=None,
                  device=None, progress=True, download=False, tag=None, split="test") -> list[dict]:
    for m in methods:
        if m not in METHODS:
            raise SystemExit(f"unknown method {m!r}; valid: {', '.join(METHODS)}")
    names = resolve_dataset_names(datasets)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    backbone = load_backbone(backbone_name, pretrained=pretrained, device=device)
    miniature = backbone_name == "miniclip"
    out = Path(out)
    previous = json.loads(out.read_text()).get("rows", []) if out.is_file() else []
    done = {(r["method"], r["dataset"], r["seed"], r.get("config")): r for r in previous}
    rows = list(previous)
    for name in names:
        dataset = load_dataset(name, root=data_root, download=download)
        for method in methods:
            for seed in seeds:
                run = run_config(method, seed, shots, miniature, train_overrides or {}, method_overrides or {}, split)
                key = config_hash(run, backbone_name)
                label = tag or method
                if (label, name, seed, key) in done:
                    continue
                run_dir = Path(runs_dir) / f"{label}-{name}-seed{seed}-{key}" if runs_dir else None
                row = base_to_novel(backbone, dataset, run, out_dir=run_dir, cache_dir=cache_dir, resume=True,
                                    progress=progress)
                row.pop("history")
                row.update(method=label, config=key)
                # a finished run with another configuration under the same name is replaced, not mixed in
                rows = [r for r in rows if (r["method"], r["dataset"], r["seed"]) != (label, name, seed)] + [row]
                print(f"{label:<10} {name:<14} seed {seed}: base {row['base']:.2f}  novel {row['novel']:.2f}  "
                      f"HM {row['hm']:.2f}", flush=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.with_suffix(".tmp")
                tmp.write_text(json.dumps({"rows": rows}, indent=1))
                os.replace(tmp, out)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m dpt base2novel", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=["zeroshot", "coop"])
    ap.add_argument("--datasets", nargs="+", default=["miniature"], help="names, or 'miniature' for all of its datasets")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--shots", type=int, default=16)
    ap.add_argument("--backbone", default="miniclip")
    ap.add_argument("--pretrained", default="default", help="open_clip tag or checkpoint path")
    ap.add_argument("--data-root", default=os.environ.get("DPT_DATA"))
    ap.add_argument("--download", action="store_true", help="let torchvision download datasets that it can")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--runs-dir", default=None, help="per-run logs and checkpoints (enables resuming a killed run)")
    ap.add_argument("--out", default="results/base2novel.json")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="method options, e.g. mi_weight=0.5")
    ap.add_argument("--train-set", nargs="*", default=[], metavar="KEY=VALUE", help="TrainConfig options")
    ap.add_argument("--tag", default=None, help="name the rows (e.g. for ablations); default: the method")
    ap.add_argument("--split", default="test", choices=["val", "test"],
                    help="evaluate on val (for choosing settings) or test (for reporting)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    train_over = _parse_sets(args.train_set)
    if args.epochs is not None:
        train_over["epochs"] = args.epochs
    rows = run_benchmark(args.methods, args.datasets, args.seeds, args.out, args.shots, args.backbone, args.pretrained,
                         args.data_root, args.cache_dir, args.runs_dir, train_over, _parse_sets(args.set), args.device,
                         not args.no_progress, args.download, args.tag, args.split)
    wanted = set(resolve_dataset_names(args.datasets))
    labels = {args.tag} if args.tag else set(args.methods)
    shown = [r for r in rows if r["dataset"] in wanted and r["method"] in labels and r["seed"] in args.seeds]
    print(format_table(summarise(shown)))
