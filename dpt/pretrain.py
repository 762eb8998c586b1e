"""Pretrain the offline miniature CLIP (`miniclip`) on ShapeWorld image-caption pairs.

    python -m dpt.pretrain --steps 3000 --out ~/miniclip/miniclip.pt

(`--out` is required; the package's own assets are refused unless `--force`.)

Renders a corpus of random scenes once, then trains open_clip's CLIP with the symmetric
contrastive (InfoNCE) loss, drawing a fresh random caption for every image at every step, the way
web alt-text describes the same kind of picture in many ways. Writes the checkpoint (fp16) and a
JSON record (arguments, seed, steps, final loss, zero-shot accuracies) beside it. Runs once, on a
CPU in about 25 minutes; not part of CI.
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
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .errors import BadInput, run_cli
from .backbones import ASSETS, MINICLIP_CFG, OPENAI_MEAN, OPENAI_STD, build_miniclip, tokenize
from .text_encoder import TextEncoder
from .data.world import COLOURS, SHAPES, SceneSampler, caption, render

import open_clip


def _render_chunk(args):
    seed, start, stop, size = args
    sampler = SceneSampler()
    scenes, images = [], np.empty((stop - start, size, size, 3), dtype=np.uint8)
    for i in range(start, stop):
        scene = sampler.sample(np.random.default_rng([seed, i]))
        scenes.append(scene)
        images[i - start] = np.asarray(render(scene, size))
    return scenes, images


def render_corpus(n: int, seed: int, size: int, workers: int = 2, progress: bool = True):
    """n random scenes and their images [n, size, size, 3] uint8; scene i depends only on (seed, i)."""
    chunk = 2000
    jobs = [(seed, s, min(n, s + chunk), size) for s in range(0, n, chunk)]
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


HELDOUT_PROMPTS = {"shape": (SHAPES, "a photo of a {}."), "colour": (tuple(COLOURS), "a photo of a {} object.")}


@torch.no_grad()
def attribute_zero_shot(model, tokenizer, sampler: SceneSampler, attribute, vocab, template: str, n: int,
                        seed: int) -> float:
    """Zero-shot accuracy (%) of naming `attribute(scene)` among `vocab` with `template`, on n scenes
    drawn from `sampler` with `seed`."""
    model.eval()
    rng = np.random.default_rng(seed)
    scenes = [sampler.sample(rng) for _ in range(n)]
    images = to_tensor(np.stack([np.asarray(render(s)) for s in scenes]))
    vocab = list(vocab)
    text = F.normalize(model.encode_text(tokenize(tokenizer, [template.format(v) for v in vocab], 32)), dim=-1)
    pred = (F.normalize(model.encode_image(images), dim=-1) @ text.T).argmax(-1)
    truth = torch.tensor([vocab.index(attribute(s)) for s in scenes])
    return float((pred == truth).float().mean() * 100)


def heldout_accuracy(model, tokenizer, attribute: str = "shape", n: int = 600, seed: int = 10_000) -> float:
    """Zero-shot accuracy of naming the main object's shape ("a photo of a {shape}.") or colour
    ("a photo of a {colour} object.") on fresh photo-style scenes (held out by seed)."""
    sampler = SceneSampler(styles=("photo",), max_distractors=0, shades=("plain",), shade_p=None)
    vocab, template = HELDOUT_PROMPTS[attribute]
    return attribute_zero_shot(model, tokenizer, sampler, lambda s: getattr(s.main, attribute), vocab, template,
                               n, seed)


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
    groups = [rng.choice(members[keys[a]], size=group_size, replace=False) for a in anchors]
    return np.concatenate(groups)


def pretrain(steps=2000, batch_size=256, corpus_size=100_000, lr=1.5e-3, weight_decay=0.1, warmup=150, seed=0,
             workers=2, progress=True, log_every=50, group_size=1, init=None):
    """Train miniclip (fresh, or continued from the checkpoint `init`); returns (model, history)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    size = MINICLIP_CFG["vision_cfg"]["image_size"]
    ctx_len = MINICLIP_CFG["text_cfg"]["context_length"]
    scenes, images = render_corpus(corpus_size, seed, size, workers, progress)
    tokenizer = open_clip.get_tokenizer("ViT-B-16")
    keys = group_keys(scenes)
    members = [np.flatnonzero(keys == k) for k in range(keys.max() + 1)]
    if init is not None:
        from .backbones import load_miniclip
        model = load_miniclip(init)  # trainable: only load_backbone freezes
    else:
        model = build_miniclip()
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98), eps=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup))))
    history = []
    bar = tqdm(range(steps), desc="pretraining miniclip", disable=not progress)
    for step in bar:
        idx = sample_batch(rng, keys, members, batch_size, group_size)
        x = to_tensor(images[idx])
        tokens = tokenizer([caption(scenes[i], rng) for i in idx], context_length=ctx_len)
        loss = clip_loss(model, x, tokens)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        history.append((step, loss.item()))
        if step % log_every == 0:
            bar.set_postfix(loss=f"{float(loss):.3f}")
    model.eval()
    return model, history


def miniature_zero_shot(model=None, split: str = "val") -> dict:
    """Zero-shot base/novel accuracy of each miniature dataset's template (the pretraining record's figures)."""
    from .backbones import load_backbone
    from .data.miniature import MINIATURE_DATASETS, load_miniature
    from .run import RunConfig, base_to_novel

    backbone = load_backbone("miniclip")
    if model is not None:
        backbone.model.load_state_dict(model.state_dict())
    out = {}
    for name in MINIATURE_DATASETS:
        row = base_to_novel(backbone, load_miniature(name), RunConfig(method="zeroshot", eval_split=split),
                            progress=False, cache_dir=None)
        out[name] = {k: row[k] for k in ("base", "novel", "hm")}
    return out


def _add_evaluations(record: dict, model) -> None:
    """Held-out shape/colour naming, and zero-shot base/novel accuracy of each miniature dataset's
    hand-crafted template (val split)."""
    tokenizer = open_clip.get_tokenizer("ViT-B-16")
    for attribute in HELDOUT_PROMPTS:
        record[f"heldout_{attribute}_zero_shot"] = heldout_accuracy(model, tokenizer, attribute)
    try:
        record["zero_shot"] = miniature_zero_shot(model)
        record.pop("zero_shot_error", None)
    except Exception as e:  # the checkpoint is already saved; never lose it to a reporting bug
        record["zero_shot_error"] = repr(e)


def check_out(out: Path, force: bool) -> None:
    """Refuse to write into the installed package (a pip user could not get the shipped model back)."""
    if out.resolve().parent == ASSETS.resolve() and not force:
        raise BadInput(f"--out {out} is inside the package's assets, which hold the shipped miniclip; write "
                       "elsewhere (e.g. --out ~/miniclip/miniclip.pt), or add --force to replace the shipped model")
    if out.is_dir():
        raise BadInput(f"--out {out} is a directory; give a checkpoint file name such as {out / 'miniclip.pt'}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--corpus-size", type=int, default=100_000)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--group-size", type=int, default=1,
                    help="batches are groups of this many scenes sharing colour, shade and style (1: random)")
    ap.add_argument("--init", default=None, help="continue from this checkpoint instead of a fresh model")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", required=True,
                    help="checkpoint to write (its JSON record goes beside it), e.g. ~/miniclip/miniclip.pt; "
                         "load it with --backbone miniclip --pretrained PATH")
    ap.add_argument("--force", action="store_true",
                    help="allow writing into the package's own assets (maintainers refreshing the shipped model)")
    ap.add_argument("--report-only", action="store_true",
                    help="load the checkpoint at --out and refresh the zero-shot figures in its JSON")
    args = ap.parse_args(argv)
    out = Path(args.out).expanduser()
    check_out(out, args.force)
    torch.set_num_threads(args.threads)
    if args.report_only:
        from .backbones import load_miniclip
        record = json.loads(out.with_suffix(".json").read_text())
        model = load_miniclip(out)
        _add_evaluations(record, model)
        out.with_suffix(".json").write_text(json.dumps(record, indent=1))
        print(json.dumps({k: v for k, v in record.items() if k != "loss_curve"}, indent=1))
        return
    t0 = time.time()
    model, history = pretrain(args.steps, args.batch_size, args.corpus_size, args.lr, args.weight_decay,
                              args.warmup, args.seed, args.workers,
                              group_size=args.group_size, init=args.init)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save({k: v.half() for k, v in model.state_dict().items()}, tmp)
    os.replace(tmp, out)
    record = {
        "args": vars(args), "seed": args.seed, "steps": args.steps, "config": MINICLIP_CFG,
        "final_loss": float(np.mean([l for _, l in history[-50:]])),
        "loss_curve": [[s, round(l, 4)] for s, l in history[:: max(1, len(history) // 100)]],
        "minutes": round((time.time() - t0) / 60, 1),
        "torch": torch.__version__, "open_clip": open_clip.__version__,
    }
    _add_evaluations(record, model)
    out.with_suffix(".json").write_text(json.dumps(record, indent=1))
    print(json.dumps({k: v for k, v in record.items() if k != "loss_curve"}, indent=1))


if __name__ == "__main__":
    run_cli(main)
