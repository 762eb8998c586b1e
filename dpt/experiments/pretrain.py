"""python -m dpt pretrain: pretrain an offline miniature CLIP (`miniclip`, `miniclip-v2`) on ShapeWorld image-caption
pairs, with the zero-shot probes and tables its record keeps.

    python -m dpt pretrain --arch miniclip-v2 --steps 6000 --out ~/miniclip/miniclip_v2.pt [--resume]

(`--out` is required; the package's own assets are refused unless `--force`.)

The loop (`pretrain`) renders a corpus of random scenes once, then trains open_clip's CLIP with the symmetric
contrastive loss, drawing a fresh random caption for every image at every step. Every `--save-every` steps the whole
state (model, optimiser, schedule, random generators, log) goes to `<out>.partial.pt`, so `--resume` continues a
killed run with exactly the numbers of an uninterrupted one. Writes the checkpoint (fp16) and a JSON record
(arguments, seed, loss curve, zero-shot probes) beside it, both atomically. Not part of CI.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..backbones import ASSETS, MINICLIPS, OPENAI_MEAN, OPENAI_STD, STEMS, build_clip, tokenize
from ..data import objects
from ..data.world import COLOURS, SHAPES, SceneSampler, caption, render
from ..errors import BadInput, cause
from ..files import atomic_save, check_target, ours_by_path
from ..text_encoder import TextEncoder
from ..weights import load_state_dict, tensors
from .command_line import Parser
from .writers import writable_folder, write_json_atomic


class ConvStem(nn.Module):
    """A ViT's patch embedding as strided 3x3 convolutions (Xiao et al. 2021), for a convolution's local bias."""

    def __init__(self, patch: int, width: int):
        super().__init__()
        n = int(math.log2(patch))
        if 2 ** n != patch:
            raise ValueError(f"a conv stem needs a power-of-two patch size, got {patch}")
        chans = [3] + [width // 2 ** (n - 1 - i) for i in range(n)]
        layers = []
        for i in range(n):
            layers.append(nn.Conv2d(chans[i], chans[i + 1], 3, 2, 1, bias=i == n - 1))
            if i < n - 1:
                layers += [nn.BatchNorm2d(chans[i + 1]), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)

    @property
    def weight(self) -> torch.Tensor:  # dtype probe used like a Conv2d's (open_clip casts inputs to it)
        return self.net[0].weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


STEMS["conv"] = ConvStem  # build_clip(cfg, "conv"), as the pilots build it (benchmarks/miniclip_pilot.py)


# What each world samples, captions and renders with.
WORLDS = {
    "shapes": (SceneSampler, caption, render),
    "objects": (objects.ObjectSampler, objects.object_caption, objects.render_objects),
}


def _render_chunk(args):
    seed, start, stop, size, world = args
    sampler_cls, _, draw = WORLDS[world]
    sampler = sampler_cls()
    scenes, images = [], np.empty((stop - start, size, size, 3), dtype=np.uint8)
    for i in range(start, stop):
        scene = sampler.sample(np.random.default_rng([seed, i]))
        scenes.append(scene)
        images[i - start] = np.asarray(draw(scene, size))
    return scenes, images


def render_corpus(n: int, seed: int, size: int, workers: int = 2, progress: bool = True, world: str = "shapes"):
    """n random scenes and their images [n, size, size, 3] uint8; scene i depends only on (seed, i)."""
    chunk = 2000
    jobs = [(seed, s, min(n, s + chunk), size, world) for s in range(0, n, chunk)]
    scenes, images = [], []
    ctx = mp.get_context("fork") if workers > 1 else None
    pool = ctx.Pool(workers) if ctx else None
    it = pool.imap(_render_chunk, jobs) if pool else map(_render_chunk, jobs)
    for sc, im in tqdm(it, total=len(jobs), desc="rendering corpus", disable=not progress):
        scenes += sc
        images.append(im)
    if pool:
        pool.close()
    return scenes, np.concatenate(images)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> normalised float [N, 3, H, W] (the miniclip eval transform, minus resizing)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def clip_loss(model, images, tokens):
    img = F.normalize(model.encode_image(images), dim=-1)
    txt = F.normalize(TextEncoder(model).encode_tokens(tokens), dim=-1)  # cut at the longest EOT: exact, cheaper
    logits = model.logit_scale.exp() * img @ txt.T
    labels = torch.arange(len(images))
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def group_keys(scenes) -> np.ndarray:
    """Scenes with the same key look alike to a colour/style shortcut: same colour, shade and style."""
    keys = {}
    return np.array([keys.setdefault((s.main.colour, s.main.shade, s.style), len(keys)) for s in scenes])


def sample_batch(rng: np.random.Generator, keys: np.ndarray, members: list[np.ndarray], batch_size: int,
                 group_size: int) -> np.ndarray:
    """Indices of a batch made of `batch_size // group_size` groups of look-alike scenes (hard negatives).

    With random batches, colour and style alone separate most pairs, so the contrastive loss barely
    needs shape; in a group that shares colour, shade and style only the shape (and layout) tells
    the captions apart. group_size 1 gives plain random batches."""
    if group_size <= 1:
        return rng.choice(len(keys), size=batch_size, replace=False)
    anchors = rng.choice(len(keys), size=batch_size // group_size, replace=False)
    groups = [rng.choice(members[keys[a]], size=group_size, replace=len(members[keys[a]]) < group_size)
              for a in anchors]  # a group smaller than group_size (a rare combination) is drawn with replacement
    return np.concatenate(groups)


def lr_lambda(warmup: int, steps: int):
    return lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup)))


def clip_optimizer(model, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """open_clip's AdamW: weight decay on the matrices only (not on gains, biases or embeddings)."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98), eps=1e-6)


def clip_step(model, opt, sched, images: torch.Tensor, tokens: torch.Tensor) -> float:
    """One contrastive step (gradients clipped at norm 1, the temperature kept below 100); returns the loss."""
    loss = clip_loss(model, images, tokens)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))
    return loss.item()


def load_init(model, init, arch: str) -> None:
    """The weights of checkpoint `init` into `model` (one that does not fit is one line, not a traceback)."""
    try:
        model.load_state_dict({k: v.float() for k, v in load_state_dict(Path(init)).items()})
    except RuntimeError as e:
        raise BadInput(f"init {init} does not fit the {arch} architecture ({cause(e)}); pass a checkpoint of "
                       f"`python -m dpt pretrain --arch {arch}`") from None


PARTIAL_KEYS = ("model", "optimizer", "schedule", "rng", "torch_rng", "history", "probes", "step", "settings",
                "seconds")


def resume_state(partial: Path, settings, model, opt, sched, rng) -> dict:
    """Load a pretraining's saved state into the model, optimiser, schedule and both random generators (refused
    where it was started with other settings); returns it for its history and step."""
    fresh = f"To start afresh, delete it (rm {partial}) and run again."
    try:
        state = torch.load(partial, map_location="cpu", weights_only=False)
    except Exception as e:
        raise BadInput(f"cannot resume from {partial}: the file is unreadable ({cause(e)}). {fresh}") from None
    if not isinstance(state, dict) or not set(PARTIAL_KEYS) <= set(state) or not tensors(state["model"]):
        raise BadInput(f"cannot resume from {partial}: it is not a pretraining state (its model, optimizer, step, "
                       f"... are not all there, or not tensors). {fresh}")
    if state["settings"] != settings:
        raise BadInput(f"resume: {partial} was started with other settings ({state['settings']}); pass "
                       "resume=False (or delete it) to start afresh, or give the same settings")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["schedule"])
    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    return state


def pretrain(steps=2000, batch_size=256, corpus_size=100_000, lr=1.5e-3, weight_decay=0.1, warmup=150, seed=0,
             workers=2, progress=True, log_every=50, group_size=1, init=None, arch="miniclip", world=None,
             cfg=None, conv_stem=None, probe_every=0, probe=None, partial: Path | None = None, save_every=250,
             resume=False, stop_after=None, settings=None):
    """Train a miniclip (fresh, or continued from the checkpoint `init`).

    arch: a MINICLIPS version (its config, stem and world), or `cfg` / `conv_stem` / `world` given directly
    (pilots of other towers). partial: where the resumable state goes every `save_every` steps; resume:
    continue from it (refused if it was started with other `settings`). probe_every: call `probe(model)` (a dict
    of figures, e.g. dpt.experiments.pretrain.probes) every that many steps (0: never). stop_after: stop (with the
    state saved) after this many steps, as a kill would. Returns (model, history, probes, seconds of training over
    every session of the run)."""
    spec = MINICLIPS.get(arch)
    if spec is None and cfg is None:
        raise BadInput(f"arch {arch!r} is not one of {', '.join(MINICLIPS)}; pass one of them, or give cfg (and "
                       "conv_stem, world) directly")
    if probe_every and probe is None:
        raise BadInput("probe_every needs probe, the function that measures the model")
    cfg = cfg or spec.cfg
    conv_stem = (spec.conv_stem if spec else False) if conv_stem is None else conv_stem
    world = world or (spec.world if spec else "shapes")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    size, ctx_len = cfg["vision_cfg"]["image_size"], cfg["text_cfg"]["context_length"]
    scenes, images = render_corpus(corpus_size, seed, size, workers, progress, world)
    caption_fn = WORLDS[world][1]
    tokenizer = open_clip.get_tokenizer("ViT-B-16")
    keys = group_keys(scenes)
    members = [np.flatnonzero(keys == k) for k in range(keys.max() + 1)]
    model = build_clip(cfg, conv_stem)
    if init is not None:
        load_init(model, init, arch)
    model.train()
    opt = clip_optimizer(model, lr, weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(warmup, steps))
    history, probe_log, start, before, t0 = [], [], 0, 0.0, time.time()
    if resume and partial is not None and partial.is_file():
        state = resume_state(partial, settings, model, opt, sched, rng)
        history, probe_log, start, before = state["history"], state["probes"], state["step"], state["seconds"]
    bar = tqdm(range(start, steps), desc=f"pretraining {arch}", disable=not progress, initial=start, total=steps)
    for step in bar:
        idx = sample_batch(rng, keys, members, batch_size, group_size)
        x = to_tensor(images[idx])
        tokens = tokenizer([caption_fn(scenes[i], rng) for i in idx], context_length=ctx_len)
        history.append((step, clip_step(model, opt, sched, x, tokens)))
        if step % log_every == 0:
            bar.set_postfix(loss=f"{history[-1][1]:.3f}")
        done = step + 1
        if probe_every and (done % probe_every == 0 or done == steps):
            probe_log.append({"step": done, **probe(model)})
            tqdm.write(f"step {done}: {probe_log[-1]}")
        if partial is not None and (done % save_every == 0 or done == stop_after):
            atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "schedule": sched.state_dict(),
                         "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "history": history,
                         "probes": probe_log, "step": done, "settings": settings,
                         "seconds": before + time.time() - t0}, partial, kind="pretraining state", own=ours_by_path)
        if stop_after is not None and done >= stop_after:
            break
    model.eval()
    return model, history, probe_log, before + time.time() - t0


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


