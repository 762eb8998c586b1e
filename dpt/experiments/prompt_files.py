"""`python -m dpt evaluate` and `python -m dpt predict`: use a learned prompt without training it again.

    python -m dpt base2novel --methods dpt --datasets mini_toys --save-prompts prompts/     # one file per run
    python -m dpt evaluate --prompts prompts/dpt-mini_toys-seed1-*.pt --datasets mini_toys mini_paints
    python -m dpt predict --prompts prompts/dpt-mini_toys-seed1-*.pt my_images/ --top-k 3
    python -m dpt predict --prompts prompts/coop-....pt --export-head head.pt              # for plain open_clip

evaluate scores a prompt on each dataset: on the dataset it was trained on, base and novel as the training run
did (the same numbers); on any other, all of its classes, each written with that dataset's template. Rows go to
--out (default results/<profile>/evaluate.json) under the same identity rules as training runs: a prompt
evaluated again on the same data is reused, and each row names the prompt file and its checksum.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from ..backbones import check_device, weights_fingerprint
from .datasets import load_datasets, resolve_dataset_names
from ..errors import BadInput, cause
from .command_line import Parser
from ..evaluate import base_novel_scores, percent, score_images
from ..inputs import evaluation_sets
from ..files import atomic_save, check_target, torch_format
from .saved import SavedPrompt, _strings, load_prompts, read_prompt_file
from .bootstrap import pack, row_intervals
from .identity import IDENTITY_VERSION, data_fingerprint, provenance, run_id
from .profiles import profile_for_backbone
from .store import ResultsStore


HEAD_FORMAT = "dpt-head"


@torch.no_grad()
def export_head(saved: SavedPrompt, path: str | Path, force: bool = False) -> Path:
    """A text-only method's class features [C, D], for plain open_clip (see head_logits)."""
    m = saved.method
    if m.encodes_images or m.text_per_image:
        raise BadInput(f"{m.name}'s class features depend on the image (it prompts the image encoder or makes "
                       "one prompt set per image): there is no fixed head to export; use predict instead")
    path = check_target(path, "head", torch_format(HEAD_FORMAT), force, offer_force=True)  # never the prompt
    atomic_save({"format": HEAD_FORMAT, "version": 1, "features": m.text_features().float().cpu(),
                 "classnames": list(m.classnames), "backbone": m.backbone.name,
                 "weights": weights_fingerprint(m.backbone), "method": m.name,
                 "logit_scale": float(m.logit_scale)}, path, kind="head", own=torch_format(HEAD_FORMAT),
                force=force)
    return path


def load_head(path: str | Path) -> dict:
    """An exported head: {"features" [C, D], "classnames", "backbone", "weights", "logit_scale", ...}."""
    try:
        doc = torch.load(Path(path).expanduser(), map_location="cpu", weights_only=True)
    except Exception as e:  # missing, truncated, not a torch file
        raise BadInput(f"{path} is not a head exported by dpt ({cause(e)}); write one with export_head(path)") from None
    if not isinstance(doc, dict) or doc.get("format") != HEAD_FORMAT:
        raise BadInput(f"{path} is not a head exported by dpt (export_head(path))")
    if not isinstance(doc.get("features"), torch.Tensor) or not _strings(doc.get("classnames")) \
            or isinstance(doc.get("logit_scale"), bool) or not isinstance(doc.get("logit_scale"), (int, float)):
        raise BadInput(f"{path} is a damaged head (its features, class names or logit scale are not what "
                       "export_head writes); export it again with export_head(path)")
    return doc


def head_logits(model, head: dict, images: torch.Tensor) -> torch.Tensor:
    """Logits of plain open_clip `model` with an exported head (what docs/learned-prompts.md shows, in one function)."""
    with torch.no_grad():
        feats = F.normalize(model.encode_image(images), dim=-1)
        return head["logit_scale"] * feats @ head["features"].to(feats.dtype).T


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def predict(saved: SavedPrompt, images, top_k: int = 5, batch_size: int = 64, progress: bool = True,
            on_skip=None) -> list[tuple]:
    """Top-k [(name, [(class, p), ...])] of a saved prompt for a tensor of images, a PIL image, a path, a folder
    or a list of them; unreadable files are skipped and named via on_skip (default: a warning)."""
    import warnings
    from PIL import Image
    from tqdm.auto import tqdm
    if not isinstance(top_k, int) or top_k < 1:
        raise BadInput(f"top_k must be a whole number of at least 1, got {top_k!r}")
    if on_skip is None:
        def on_skip(name, why):
            warnings.warn(f"skipped {name}: {why}", stacklevel=3)
    k = min(top_k, len(saved.method.classnames))
    if isinstance(images, torch.Tensor):
        return _top(saved, [str(i) for i in range(len(images))], images, k)
    sources = list(_expand(images))
    if not sources:
        raise BadInput(f"no files found in {images!r}; give image files ({', '.join(IMAGE_SUFFIXES)}) or "
                       "folders of them")
    out, batch, names, skipped = [], [], [], 0
    preprocess = saved.method.backbone.preprocess
    for src in tqdm(sources, desc="classifying", disable=not progress or len(sources) < 2, unit="img"):
        name = getattr(src, "filename", None) or str(src)
        if isinstance(src, _Listed) and src.suffix.lower() not in IMAGE_SUFFIXES:  # found in a folder
            on_skip(name, f"not an image file (looked for {', '.join(IMAGE_SUFFIXES)})")
            skipped += 1
            continue
        try:
            img = src if isinstance(src, Image.Image) else Image.open(src)
            batch.append(preprocess(img.convert("RGB")))
            names.append(name)
        except (OSError, SyntaxError, ValueError) as e:  # PIL: truncated, not an image, unreadable
            on_skip(name, f"it cannot be read as an image ({type(e).__name__})")
            skipped += 1
            continue
        if len(batch) == batch_size:
            out += _top(saved, names, torch.stack(batch), k)
            batch, names = [], []
    if batch:
        out += _top(saved, names, torch.stack(batch), k)
    if not out:
        raise BadInput(f"nothing could be classified: none of the {skipped} file(s) given is a readable image")
    return out


def _top(saved: SavedPrompt, names: list[str], images: torch.Tensor, k: int) -> list[tuple]:
    out = []
    for n, p in zip(names, saved.probabilities(images)):
        values, idx = p.topk(k)
        out.append((n, [(saved.method.classnames[int(i)], float(v)) for v, i in zip(values, idx)]))
    return out


class _Listed(type(Path())):
    """A file found by listing a folder (skipped unnamed-as-image by its suffix; a file given by name is opened)."""


def _expand(images):
    from PIL import Image
    items = images if isinstance(images, (list, tuple)) else [images]
    for it in items:
        if isinstance(it, Image.Image):
            yield it
            continue
        p = Path(it).expanduser()
        if p.is_dir():  # every file, so that what is not an image is named, not passed over (hidden files aside)
            yield from sorted(_Listed(f) for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        elif p.exists():
            yield p
        else:
            raise BadInput(f"{p} does not exist; give an image file or a folder of images")


def prompt_checksum(doc: dict) -> str:
    """sha256 of a prompt file's method and parameters: what an evaluate row's identity records of its prompt."""
    h = hashlib.sha256(doc["method"].encode())
    for k, v in sorted(doc["state"].items()):
        h.update(k.encode())
        h.update(v.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def evaluate_prompt(saved, dataset, split: str, cache_dir=None, progress: bool = True) -> tuple[dict, dict]:
    """(row fields, per-image hits) of a saved prompt on `dataset`: base/novel if it is the dataset the prompt was
    trained on (base classes), else every class of `dataset`."""
    doc = saved.doc
    trained = (doc.get("identity") or {}).get("dataset")
    base_to_novel = trained == dataset.name and (doc.get("identity") or {}).get("classes", "base") == "base"
    sets = evaluation_sets(saved.method.backbone, dataset, split, None if base_to_novel else {dataset.name: dataset},
                           cache_dir, progress, saved.method.encodes_images)
    hits = score_images(saved.method, sets)
    if base_to_novel:
        acc = {k: percent(v) for k, v in hits.items()}
        return ({"dataset": dataset.name, **base_novel_scores(acc), "ci": row_intervals(hits),
                 "correct": {h: pack(hits[h]) for h in ("base", "novel")}}, hits)
    return ({"source": trained, "target": dataset.name, "accuracy": round(percent(hits[dataset.name]), 2),
             "correct": pack(hits[dataset.name])}, hits)


def scored_class_lists(saved, dataset) -> list:
    """The (class names, template) a saved prompt is scored with on `dataset`: base and novel on the dataset it was
    trained on (base classes), else all of `dataset`'s classes."""
    from ..data import subsample_classes
    trained = (saved.doc.get("identity") or {})
    if trained.get("dataset") == dataset.name and trained.get("classes", "base") == "base":
        return [(subsample_classes(dataset, h).classnames, dataset.template) for h in ("base", "novel")]
    return [(dataset.classnames, dataset.template)]


def check_classes_fit(saved, dataset) -> None:
    """Refuse (before any work) a prompt that cannot be pointed at the classes it would be scored on (class-specific
    contexts on other classes, names that do not fit the text context); the prompt keeps its own classes."""
    own = (list(saved.method.classnames), saved.method.template)
    try:
        for names, template in scored_class_lists(saved, dataset):
            saved.method.set_classnames(list(names), template)
    finally:
        saved.method.set_classnames(*own)


def evaluate_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m dpt evaluate", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", nargs="+", required=True, metavar="FILE", help="prompt files (--save-prompts)")
    ap.add_argument("--datasets", nargs="+", required=True, help="datasets or aliases to score on")
    ap.add_argument("--split", default="test", choices=["val", "test"])
    ap.add_argument("--out", default=None, help="results file (default: results/<profile>/evaluate.json)")
    _backbone_arguments(ap)
    ap.add_argument("--data-root", default=os.environ.get("DPT_DATA"))
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--no-progress", action="store_true")
    return ap


def _backbone_arguments(ap) -> None:
    ap.add_argument("--pretrained", default="recorded", metavar="PATH_OR_TAG",
                    help="the backbone's weights, the ones the prompt was trained with (default: the checkpoint file "
                         "the prompt file names where it is here, else $DPT_PRETRAINED, else its open_clip tag)")
    ap.add_argument("--device", default=os.environ.get("DPT_DEVICE") or "cpu", help="default: $DPT_DEVICE, else cpu")


def evaluate_main(argv=None) -> None:
    ap = evaluate_parser()
    args = ap.parse_args(argv)
    check_device(args.device)
    docs = [(Path(p), read_prompt_file(p)) for p in args.prompts]  # every file readable before any work
    names = resolve_dataset_names(args.datasets)
    datasets = load_datasets(names, root=args.data_root)
    backbones = {d["backbone"] for _, d in docs}
    if len(backbones) > 1:
        raise BadInput(f"these prompts were trained on {', '.join(sorted(backbones))}: evaluate one backbone at a time")
    out = profile_for_backbone(backbones.pop()).results_file("evaluate") if args.out is None else args.out
    store = ResultsStore(out)
    stored = {r["run_id"]: r for r in store.rows()}
    prompts, backbone = [], None
    for path, doc in docs:  # every prompt loaded, and pointed at every class list it will score, before any work
        saved = load_prompts(path, backbone=backbone, pretrained=args.pretrained, device=args.device,
                             fallback_weights=os.environ.get("DPT_PRETRAINED"))
        backbone = saved.method.backbone
        for ds in datasets.values():
            check_classes_fit(saved, ds)
        prompts.append((path, doc, saved))
    for path, doc, saved in prompts:
        for name, ds in datasets.items():
            identity = {"version": IDENTITY_VERSION, "kind": "evaluate", "prompt": prompt_checksum(doc),
                        "trained": doc.get("identity"), "dataset": name, "data": data_fingerprint(ds, (args.split,)),
                        "split": args.split, "backbone": doc["backbone"], "weights": doc["weights"],
                        "device": args.device.split(":")[0]}
            rid = run_id(identity)
            if rid in stored:
                row = stored[rid]
            else:
                fields, _ = evaluate_prompt(saved, ds, args.split, args.cache_dir, not args.no_progress)
                seed = (doc.get("identity") or {}).get("seed", 0)
                row = {"label": doc["method"], "method": doc["method"], "seed": seed, "split": args.split, **fields,
                       "prompt_file": path.name, "run_id": rid, "identity": identity, "provenance": provenance()}
                store.add(row)
            print(f"{path.name}: {name} " + (f"base {row['base']:.2f}  novel {row['novel']:.2f}  HM {row['hm']:.2f}"
                                             if "base" in row else f"accuracy {row['accuracy']:.2f}"))


def predict_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m dpt predict", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="*", metavar="IMAGE_OR_FOLDER", help="image files or folders of images")
    ap.add_argument("--prompts", required=True, metavar="FILE", help="a prompt file (--save-prompts)")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--classes", nargs="+", default=None, metavar="NAME",
                    help="classify among these class names instead of the ones the prompt was trained on")
    ap.add_argument("--template", default=None, help="with --classes: the hand-crafted template ('a photo of a {}.')")
    ap.add_argument("--export-head", default=None, metavar="FILE",
                    help="write the class text features [C, D] for plain open_clip (text-only methods)")
    ap.add_argument("--force", action="store_true", help="replace an --export-head file that is not a head, or is read-only")
    _backbone_arguments(ap)
    ap.add_argument("--json", action="store_true", help="print one JSON line per image")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def predict_main(argv=None) -> None:
    ap = predict_parser()
    args = ap.parse_args(argv)
    check_device(args.device)
    taken = [c for c in args.classes or [] if Path(c).expanduser().is_file()]
    if taken:
        raise BadInput(f"--classes took {', '.join(taken)} as class names, but {'they are files' if len(taken) > 1 else 'it is a file'}: "
                       "put the images before --classes (predict IMAGE ... --classes NAME ...), or end the class list "
                       "with -- before the images")
    if not args.images and args.export_head is None:
        raise BadInput("give images or folders to classify (or --export-head FILE)")
    if args.top_k < 1:
        raise BadInput(f"--top-k must be at least 1, got {args.top_k}")
    if args.template is not None and args.classes is None:
        raise BadInput("--template goes with --classes (the prompt's own classes keep their template)")
    for p in args.images:
        if not Path(p).expanduser().exists():
            raise BadInput(f"{p} does not exist; give an image file or a folder of images")
    if args.export_head is not None:  # before any work: never the prompt file, a folder, or another file
        check_target(args.export_head, "head", torch_format(HEAD_FORMAT), args.force, offer_force=True)
    saved = load_prompts(args.prompts, pretrained=args.pretrained, device=args.device,
                         fallback_weights=os.environ.get("DPT_PRETRAINED"))
    saved.with_classes(args.classes, args.template)
    if args.export_head is not None:
        print(f"head of {len(saved.classnames)} classes written to {export_head(saved, args.export_head, args.force)}")
    if args.images:
        from tqdm.auto import tqdm

        def skipped(name, why):  # one line each, above the progress bar
            tqdm.write(f"skipped {name}: {why}", file=sys.stderr)
        for name, top in predict(saved, args.images, args.top_k, progress=not args.no_progress, on_skip=skipped):
            if args.json:
                print(json.dumps({"image": name, "top": [{"class": c, "p": round(p, 4)} for c, p in top]}))
            else:
                print(f"{name}: " + ", ".join(f"{c} {p:.3f}" for c, p in top))
        sys.stdout.flush()
