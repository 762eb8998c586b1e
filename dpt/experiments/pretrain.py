"""python -m dpt pretrain: pretrain an offline miniature CLIP (`miniclip`, `miniclip-v2`) on ShapeWorld, with the
zero-shot probes and tables its record keeps (the loop itself is `dpt.pretrain.pretrain`).

    python -m dpt pretrain --arch miniclip-v2 --steps 6000 --out ~/miniclip/miniclip_v2.pt [--resume]

(`--out` is required; the package's own assets are refused unless `--force`.)

Every `--save-every` steps the whole state goes to `<out>.partial.pt`, so `--resume` continues a killed run with
exactly the numbers of an uninterrupted one. Writes the checkpoint (fp16) and a JSON record (arguments, seed, loss
curve, zero-shot probes during and after training) beside it, both atomically. Not part of CI.
"""
from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F

from ..backbones import ASSETS, MINICLIPS, tokenize
from ..data import objects
from ..data.world import COLOURS, SHAPES, SceneSampler, render
from ..errors import BadInput
from ..files import atomic_save, check_target, writable_folder, write_json_atomic
from ..pretrain import pretrain, to_tensor
from .command_line import Parser


HELDOUT_PROMPTS = {"shape": (SHAPES, "a photo of a {}."), "colour": (tuple(COLOURS), "a photo of a {} object.")}


@torch.no_grad()
def attribute_zero_shot(model, tokenizer, sampler, attribute, vocab, template: str, n: int, seed: int,
                        draw=render, size: int = 48) -> float:
    """Zero-shot accuracy (%) of naming `attribute(scene)` among `vocab` with `template`, on n scenes
    drawn from `sampler` with `seed` (and rendered with `draw`)."""
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    scenes = [sampler.sample(rng) for _ in range(n)]
    images = to_tensor(np.stack([np.asarray(draw(s, size)) for s in scenes]))
    vocab = list(vocab)
    context = model.positional_embedding.shape[0]
    text = F.normalize(model.encode_text(tokenize(tokenizer, [template.format(v) for v in vocab], context)), dim=-1)
    pred = (F.normalize(model.encode_image(images), dim=-1) @ text.T).argmax(-1)
    truth = torch.tensor([vocab.index(attribute(s)) for s in scenes])
    model.train(was_training)
    return float((pred == truth).float().mean() * 100)


def heldout_accuracy(model, tokenizer, attribute: str = "shape", n: int = 600, seed: int = 10_000) -> float:
    """Zero-shot accuracy of naming the main object's shape ("a photo of a {shape}.") or colour
    ("a photo of a {colour} object.") on fresh photo-style ShapeWorld scenes (held out by seed)."""
    sampler = SceneSampler(styles=("photo",), max_distractors=0, shades=("plain",), shade_p=None)
    vocab, template = HELDOUT_PROMPTS[attribute]
    return attribute_zero_shot(model, tokenizer, sampler, lambda s: getattr(s.main, attribute), vocab, template,
                               n, seed)


def object_probes(model, tokenizer, size: int = 48, n: int = 600, seed: int = 10_000) -> dict:
    """Zero-shot naming on fresh v2 scenes (held out by seed): the object's kind among all 67 in each style
    ("a photo of a {}.", "a sketch of a {}.", "pixel art of a {}."), and its colour among 12 in photos."""
    out = {}
    for style, template in (("photo", "a photo of a {}."), ("sketch", "a sketch of a {}."),
                            ("pixel", "pixel art of a {}.")):
        sampler = objects.ObjectSampler(styles=(style,), max_distractors=0)
        out[f"kind_{style}"] = attribute_zero_shot(model, tokenizer, sampler, lambda s: s.main.kind, objects.KINDS,
                                                   template, n, seed, objects.render_objects, size)
    sampler = objects.ObjectSampler(styles=("photo",), max_distractors=0, shades=("plain",), shade_p=None)
    out["colour_photo"] = attribute_zero_shot(model, tokenizer, sampler, lambda s: s.main.colour, tuple(COLOURS),
                                              "a photo of a {} object.", n, seed, objects.render_objects, size)
    return {k: round(v, 2) for k, v in out.items()}


def probes(model, tokenizer, world: str, size: int) -> dict:
    if world == "objects":
        return object_probes(model, tokenizer, size)
    return {f"heldout_{a}_zero_shot": heldout_accuracy(model, tokenizer, a) for a in HELDOUT_PROMPTS}


def miniature_zero_shot(model=None, split: str = "val", backbone_name: str = "miniclip") -> dict:
    """Zero-shot base/novel accuracy of each dataset of a miniature (the pretraining record's figures)."""
    from ..backbones import load_backbone
    from ..data.miniature import MINIATURE_DATASETS, MINIATURE_V2_DATASETS, load_miniature
    from ..run import RunConfig, base_to_novel

    backbone = load_backbone(backbone_name, pretrained=None)
    backbone.model.load_state_dict(model.state_dict())
    backbone.model.eval()
    out = {}
    for name in (MINIATURE_V2_DATASETS if MINICLIPS[backbone_name].world == "objects" else MINIATURE_DATASETS):
        row = base_to_novel(backbone, load_miniature(name), RunConfig(method="zeroshot", eval_split=split),
                            progress=False, cache_dir=None)
        out[name] = {k: row[k] for k in ("base", "novel", "hm")}
    return out


def _add_evaluations(record: dict, model, arch: str) -> None:
    """Held-out probes and zero-shot base/novel accuracy of each miniature dataset's template (val split)."""
    spec = MINICLIPS[arch]
    record.update(probes(model, open_clip.get_tokenizer("ViT-B-16"), spec.world, spec.cfg["vision_cfg"]["image_size"]))
    try:
        record["zero_shot"] = miniature_zero_shot(model, backbone_name=arch)
        record.pop("zero_shot_error", None)
    except Exception as e:  # the checkpoint is already saved; never lose it to a reporting bug
        record["zero_shot_error"] = repr(e)


def _is_record(path: Path) -> bool:
    """A pretraining record (the JSON this command writes beside its checkpoint)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and {"steps", "loss_curve"} <= set(doc)  # (v1's record predates "arch")


def check_out(out: Path, force: bool) -> None:
    """Refuse to write into the installed package (a pip user could not get the shipped model back), and any
    path whose JSON record would overwrite the checkpoint itself."""
    if out.resolve().parent == ASSETS.resolve() and not force:
        raise BadInput(f"--out {out} is inside the package's assets, which hold the shipped miniclip; write "
                       "elsewhere (e.g. --out ~/miniclip/miniclip.pt), or add --force to replace the shipped model")
    if out.is_dir():
        raise BadInput(f"--out {out} is a directory; give a checkpoint file name such as {out / 'miniclip.pt'}")
    if out.suffix != ".pt":
        raise BadInput(f"--out {out} must end in .pt: the checkpoint goes there and its JSON record beside it "
                       f"({out.with_suffix('.json').name})")


def _non_negative(kind):
    def parse(text):
        v = kind(text)
        if not (v >= 0 and math.isfinite(v)) or (kind is int and v >= 2 ** 31):
            raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {text}")
        return v
    return parse


def _positive(kind):
    def parse(text):
        v = kind(text)
        if not (v > 0 and math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
        return v
    return parse


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m dpt pretrain", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="miniclip", choices=list(MINICLIPS), help="which miniclip (config and world)")
    ap.add_argument("--steps", type=_positive(int), default=2000)
    ap.add_argument("--batch-size", type=_positive(int), default=256)
    ap.add_argument("--corpus-size", type=_positive(int), default=100_000)
    ap.add_argument("--lr", type=_positive(float), default=1.5e-3)
    ap.add_argument("--weight-decay", type=_non_negative(float), default=0.1)
    ap.add_argument("--warmup", type=_positive(int), default=150)
    ap.add_argument("--seed", type=_non_negative(int), default=0)
    ap.add_argument("--group-size", type=_positive(int), default=1,
                    help="batches are groups of this many scenes sharing colour, shade and style (1: random)")
    ap.add_argument("--init", default=None, help="continue from this checkpoint instead of a fresh model")
    ap.add_argument("--probe-every", type=_non_negative(int), default=0, help="zero-shot probes every N steps (0: only at the end)")
    ap.add_argument("--save-every", type=_positive(int), default=250, help="resumable state every N steps")
    ap.add_argument("--resume", action="store_true", help="continue from <out>.partial.pt if it is there")
    ap.add_argument("--workers", type=_positive(int), default=2)
    ap.add_argument("--threads", type=_positive(int), default=os.cpu_count())
    ap.add_argument("--out", required=True,
                    help="checkpoint to write (its JSON record goes beside it), e.g. ~/miniclip/miniclip.pt; "
                         "load it with --backbone miniclip --pretrained PATH")
    ap.add_argument("--force", action="store_true",
                    help="allow writing into the package's own assets (maintainers refreshing the shipped model)")
    ap.add_argument("--report-only", action="store_true",
                    help="load the checkpoint at --out and refresh the zero-shot figures in its JSON")
    return ap


def main(argv=None):
    ap = parser()
    args = ap.parse_args(argv)
    if args.batch_size > args.corpus_size:
        raise BadInput(f"--batch-size {args.batch_size} is above --corpus-size {args.corpus_size}: a batch draws distinct "
                       "scenes of the corpus; lower the batch or render a larger corpus")
    if args.group_size > args.batch_size:
        raise BadInput(f"--group-size {args.group_size} is above --batch-size {args.batch_size}: a batch is made of "
                       "groups of that many scenes; give a group size of at most the batch size")
    out = Path(args.out).expanduser()
    check_out(out, args.force)
    record_path, partial = out.with_suffix(".json"), out.with_suffix(".partial.pt")
    writable_folder(out.parent, "folder of --out")
    if not args.report_only:  # a checkpoint of another pretraining (its record beside it) may be replaced
        check_target(out, "miniclip checkpoint", own=lambda p: _is_record(p.with_suffix(".json")), force=args.force)
        check_target(record_path, "pretraining record", own=_is_record, force=args.force)
    torch.set_num_threads(args.threads)
    if args.report_only:
        from ..backbones import load_miniclip
        if not record_path.is_file() or not out.is_file():
            raise BadInput(f"--report-only refreshes the record of an existing checkpoint: {out} and {record_path} "
                           "must both exist")
        record = json.loads(record_path.read_text())
        model = load_miniclip(out, version=args.arch)
        _add_evaluations(record, model, args.arch)
        write_json_atomic(record_path, record, kind="pretraining record", own=_is_record, force=args.force)
        print(json.dumps({k: v for k, v in record.items() if k not in ("loss_curve", "probes")}, indent=1))
        return
    settings = {k: v for k, v in vars(args).items() if k not in ("resume", "threads", "workers", "report_only", "force")}
    spec, tokenizer = MINICLIPS[args.arch], open_clip.get_tokenizer("ViT-B-16")
    size = spec.cfg["vision_cfg"]["image_size"]
    model, history, probe_log, seconds = pretrain(args.steps, args.batch_size, args.corpus_size, args.lr, args.weight_decay,
                                         args.warmup, args.seed, args.workers, group_size=args.group_size,
                                         init=args.init, arch=args.arch, probe_every=args.probe_every,
                                         probe=lambda m: probes(m, tokenizer, spec.world, size),
                                         partial=partial, save_every=args.save_every, resume=args.resume,
                                         settings=settings)
    atomic_save({k: v.half() for k, v in model.state_dict().items()}, out, kind="miniclip checkpoint",
                own=lambda p: _is_record(p.with_suffix(".json")), force=args.force)
    record = {
        "args": vars(args), "arch": args.arch, "seed": args.seed, "steps": args.steps, "config": MINICLIPS[args.arch].cfg,
        "conv_stem": MINICLIPS[args.arch].conv_stem, "world": MINICLIPS[args.arch].world,
        "final_loss": float(np.mean([l for _, l in history[-50:]])),
        "loss_curve": [[s, round(l, 4)] for s, l in history[:: max(1, len(history) // 100)]],
        "probes": probe_log, "minutes": round(seconds / 60, 1), "torch": torch.__version__, "open_clip": open_clip.__version__,
    }
    _add_evaluations(record, model, args.arch)
    write_json_atomic(record_path, record, kind="pretraining record", own=_is_record, force=args.force)
    partial.unlink(missing_ok=True)
    print(json.dumps({k: v for k, v in record.items() if k not in ("loss_curve", "probes")}, indent=1))


