"""Learned prompts as files of their own: save one, load it in a fresh process, score it, classify images with
it, or export its class text features for plain open_clip.

    save_prompts(method, "coop.pt")                     # after training (python -m dpt ... --save-prompts DIR)
    saved = load_prompts("coop.pt")                     # the backbone it was trained with, checked by fingerprint
    saved.predict("my_images/", top_k=3)                # [(path, [(class, probability), ...]), ...]
    saved.export_head("head.pt")                        # text-only methods: [C, D] class features for open_clip

A prompt file holds the method's learned parameters (prompt vectors, CoCoOp's meta-net, the visual prompts of
IVLP / MaPLe / PromptSRC, dpt's MI critic), its config, the class names and template it was trained for, and the
backbone's name and weights fingerprint: a prompt is refused on other weights, where its vectors mean nothing.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .backbones import Backbone, load_backbone, weights_fingerprint
from .weights import tensors
from .errors import BadInput, cause
from .files import atomic_save, check_target, torch_format
from .methods import METHODS, MethodConfig, PromptMethod, build_method

FORMAT, VERSION = "dpt-prompt", 1
HEAD_FORMAT = "dpt-head"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def prompt_payload(method: PromptMethod, identity: dict | None = None) -> dict:
    """What a prompt file holds (a plain dict of tensors and JSON-able values)."""
    backbone = method.backbone
    return {"format": FORMAT, "version": VERSION, "method": method.name, "method_config": asdict(method.cfg),
            "classnames": list(method.classnames), "template": method.template,
            "state": {k: v.detach().cpu().clone() for k, v in method.state_dict().items()},
            "backbone": backbone.name, "weights": weights_fingerprint(backbone), "weights_source": backbone.weights,
            "identity": identity}


def save_prompts(method: PromptMethod, path: str | Path, identity: dict | None = None, force: bool = False) -> Path:
    """Write `method`'s learned prompt to `path` atomically (identity: the run's, when a grid trained it). An
    existing prompt file is replaced; any other file only with force=True."""
    if not method.learns:
        raise BadInput(f"{method.name} learns no prompt: there is nothing to save")
    path = check_target(path, "prompt file", torch_format(FORMAT), force, offer_force=True)
    atomic_save(prompt_payload(method, identity), path, kind="prompt file", own=torch_format(FORMAT), force=force)
    return path


def read_prompt_file(path: str | Path) -> dict:
    path = Path(path).expanduser()
    if not path.is_file():
        raise BadInput(f"prompt file {path} does not exist; write one with save_prompts(method, path)")
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise BadInput(f"{path} is not a dpt prompt file ({type(e).__name__}); write one with save_prompts(method, path)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BadInput(f"{path} is not a dpt prompt file; write one with save_prompts(method, path)")
    if doc.get("version") != VERSION:
        raise BadInput(f"{path} is a version {doc.get('version')} prompt file, this dpt reads version {VERSION}")
    if doc.get("method") not in METHODS:
        raise BadInput(f"{path} holds a {doc.get('method')!r} prompt, a method this dpt does not have")
    checks = (("state", tensors(doc.get("state"))), ("method_config", isinstance(doc.get("method_config"), dict)),
              ("classnames", _strings(doc.get("classnames"))), ("template", isinstance(doc.get("template"), str)),
              ("backbone", isinstance(doc.get("backbone"), str)), ("weights", isinstance(doc.get("weights"), str)))
    wrong = next((k for k, ok in checks if not ok), None)
    if wrong:
        raise BadInput(f"{path} is a damaged prompt file (its {wrong!r} is {type(doc.get(wrong)).__name__}, not what a "
                       "prompt file holds); write it again with save_prompts(method, path)")
    return doc


def _strings(items) -> bool:
    return isinstance(items, list) and bool(items) and all(isinstance(c, str) for c in items)


@dataclass
class SavedPrompt:
    """A prompt loaded from its file onto a backbone with the same weights."""
    method: PromptMethod
    doc: dict
    path: Path

    @property
    def classnames(self) -> list[str]:
        return list(self.method.classnames)

    def with_classes(self, classnames: Sequence[str] | None, template: str | None = None) -> "SavedPrompt":
        """The same prompt pointed at other class names (refused for class-specific contexts, which belong to
        the classes they were trained on)."""
        if classnames is not None or template is not None:
            self.method.set_classnames(list(classnames or self.method.classnames), template)
        return self

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """[N, C] class probabilities for preprocessed images [N, 3, H, W]."""
        m = self.method
        m.eval()
        x = images.to(m.backbone.device)
        if not m.encodes_images:
            x = m.backbone.encode_images(x)
        return m.logits(x).float().softmax(-1).cpu()

    def predict(self, images, top_k: int = 5, batch_size: int = 64, progress: bool = True,
                on_skip=None) -> list[tuple]:
        """Top-k (class, probability) for each image: a tensor [N, 3, H, W] of preprocessed images, a PIL image, a
        path, a folder (every file in it, sorted), or a list of those. A file that is not an image, or cannot be
        read as one, is skipped and named: on_skip(name, why), by default a warning. Nothing classified at all is
        an error. Returns [(name, [(class, p), ...]), ...]."""
        import warnings
        from PIL import Image
        if not isinstance(top_k, int) or top_k < 1:
            raise BadInput(f"top_k must be a whole number of at least 1, got {top_k!r}")
        if on_skip is None:
            def on_skip(name, why):
                warnings.warn(f"skipped {name}: {why}", stacklevel=3)
        k = min(top_k, len(self.method.classnames))
        if isinstance(images, torch.Tensor):
            probs = self.probabilities(images)
            return [(str(i), self._top(p, k)) for i, p in enumerate(probs)]
        sources = list(_expand(images))
        if not sources:
            raise BadInput(f"no files found in {images!r}; give image files ({', '.join(IMAGE_SUFFIXES)}) or "
                           "folders of them")
        out, batch, names, skipped = [], [], [], 0
        preprocess = self.method.backbone.preprocess
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
                out += self._flush(batch, names, k)
                batch, names = [], []
        if batch:
            out += self._flush(batch, names, k)
        if not out:
            raise BadInput(f"nothing could be classified: none of the {skipped} file(s) given is a readable image")
        return out

    def _flush(self, batch, names, k):
        probs = self.probabilities(torch.stack(batch))
        return [(n, self._top(p, k)) for n, p in zip(names, probs)]

    def _top(self, p: torch.Tensor, k: int) -> list[tuple[str, float]]:
        values, idx = p.topk(k)
        return [(self.method.classnames[int(i)], float(v)) for v, i in zip(values, idx)]

    @torch.no_grad()
    def export_head(self, path: str | Path, force: bool = False) -> Path:
        """The class text features [C, D] of a text-only method, for plain open_clip: logits are
        model.logit_scale.exp() * normalize(model.encode_image(x)) @ head["features"].T."""
        m = self.method
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


class _Listed(type(Path())):
    """A file found by listing a folder (skipped unnamed-as-image by its suffix; a file given by name is opened)."""


def _expand(images) -> Iterable:
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


RECORDED = "recorded"  # load_prompts' default: the weights the file names, as this machine can load them


def recorded_weights(doc: dict, fallback: str | None = None) -> str | None:
    """The weights to load a prompt file's backbone with: the checkpoint file it was trained with where that file
    is here; else `fallback` for an open_clip backbone (the commands pass $DPT_PRETRAINED, as their training reads
    it); else the tag it names ('openai'), or the default weights. The fingerprint check after loading confirms the
    choice."""
    from .backbones import MINICLIPS
    from .pretrained import looks_like_checkpoint
    source = doc.get("weights_source")
    if source == "random-init":
        return None
    is_file = looks_like_checkpoint(source)
    if is_file and Path(source).expanduser().is_file():
        return source
    if doc["backbone"] not in MINICLIPS and fallback:
        return fallback
    return source if source and not is_file else "default"


def load_prompts(path: str | Path, backbone: Backbone | None = None, pretrained: str | None = RECORDED,
                 device: str = "cpu", fallback_weights: str | None = None) -> SavedPrompt:
    """A saved prompt on its backbone (loaded by name from the file, with `pretrained` weights, by default those
    the file records: `recorded_weights`, with `fallback_weights` for an open_clip file that is not here), unless
    given; the weights must have the fingerprint the prompt was trained with."""
    path = Path(path).expanduser()
    doc = read_prompt_file(path)
    if backbone is None:
        pretrained = recorded_weights(doc, fallback_weights) if pretrained == RECORDED else pretrained
        backbone = load_backbone(doc["backbone"], pretrained=pretrained, device=device)
    if backbone.name != doc["backbone"]:
        raise BadInput(f"{path} was trained on {doc['backbone']}, not {backbone.name}: load it on {doc['backbone']}")
    got = weights_fingerprint(backbone)
    if got != doc["weights"]:
        raise BadInput(f"{path} was trained on {doc['backbone']} weights {doc['weights']}, these are {got}: a prompt "
                       "means nothing on other weights; load the checkpoint it was trained with (pretrained=PATH)")
    cfg = MethodConfig.from_dict(doc["method_config"])
    method = build_method(doc["method"], backbone, doc["classnames"], doc["template"], cfg)
    try:
        method.load_state_dict(doc["state"])
    except RuntimeError as e:
        raise BadInput(f"{path}: its parameters do not fit a {doc['method']} prompt ({cause(e)})") from None
    method.eval()
    return SavedPrompt(method, doc, path)


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
