"""Pretrain an offline miniature CLIP (`miniclip`, `miniclip-v2`) on ShapeWorld image-caption pairs: the loop.
The command (`python -m dpt pretrain`), its probes and its record are in `dpt.experiments.pretrain`.

Renders a corpus of random scenes once (ShapeWorld's flat shapes for `miniclip`, v2's object kinds for
`miniclip-v2`), then trains open_clip's CLIP with the symmetric contrastive (InfoNCE) loss, drawing a
fresh random caption for every image at every step, the way web alt-text describes the same kind of
picture in many ways. Every `--save-every` steps the whole state (model, optimiser, schedule, random
generators, log) goes to `partial`, so `resume` continues a killed run with exactly the numbers of an
uninterrupted one.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .backbones import MINICLIPS, OPENAI_MEAN, OPENAI_STD, build_clip
from .data import objects
from .data.world import SceneSampler, caption, render
from .errors import BadInput, cause
from .files import atomic_save
from .weights import load_state_dict, tensors
from .text_encoder import TextEncoder

import open_clip

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
