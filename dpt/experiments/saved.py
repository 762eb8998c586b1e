"""Learned prompts as files: save one, load it in a fresh process on the same weights (checked by
fingerprint: a prompt means nothing on others), classify images with it. The commands' `--save-prompts`,
`evaluate` and `predict` read and write them; in Python a method is a plain module with a state dict, and these
files add the checks that make one safe to share."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..backbones import Backbone, load_backbone, weights_fingerprint
from ..weights import tensors
from ..errors import BadInput, cause
from ..files import atomic_save, check_target, torch_format
from ..methods import METHODS, MethodConfig, PromptMethod, build_method

FORMAT, VERSION = "dpt-prompt", 1


def prompt_payload(method: PromptMethod, identity: dict | None = None) -> dict:
    """What a prompt file holds (a plain dict of tensors and JSON-able values)."""
    backbone = method.backbone
    return {"format": FORMAT, "version": VERSION, "method": method.name, "method_config": asdict(method.cfg),
            "classnames": list(method.classnames), "template": method.template,
            "state": {k: v.detach().cpu().clone() for k, v in method.state_dict().items()},
            "backbone": backbone.name, "weights": weights_fingerprint(backbone), "weights_source": backbone.weights,
            "identity": identity}


def save_prompts(method: PromptMethod, path: str | Path, identity: dict | None = None, force: bool = False) -> Path:
    """Write `method`'s prompt atomically; an existing prompt file is replaced, any other file only with force."""
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
        """The same prompt pointed at other class names (refused for class-specific contexts)."""
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


RECORDED = "recorded"  # load_prompts' default: the weights the file names, as this machine can load them


def recorded_weights(doc: dict, fallback: str | None = None) -> str | None:
    """The weights to load a prompt file's backbone with: its checkpoint file where it is here, else `fallback`
    for open_clip, else the tag it names. The fingerprint check confirms the choice."""
    from ..backbones import MINICLIPS
    from ..pretrained import looks_like_checkpoint
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
    """A saved prompt on its backbone (by default loaded with the weights the file records), which must have
    the fingerprint the prompt was trained with."""
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
