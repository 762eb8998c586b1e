"""open_clip models and their weights; offline, a miss fails at once and says what to do."""
from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Callable
from unittest import mock

import open_clip
from open_clip import CLIP
from torchvision import transforms as T

from .errors import cause
from .miniclip import MINICLIP_CFG
from .weights import BackboneUnavailable, load_state_dict

def _hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextmanager
def _hub_offline():
    """open_clip's hub downloads from the local cache only, for this call (huggingface_hub's settings untouched)."""
    download = getattr(open_clip.pretrained, "hf_hub_download", None)
    if download is None:  # no hub client: open_clip cannot download anyway
        yield
        return
    with mock.patch.object(open_clip.pretrained, "hf_hub_download", partial(download, local_files_only=True)):
        yield


def dassl_train_transform(image_size: int, mean, std):
    """The references' training augmentation (Dassl's random resized crop, flip, normalize), for open_clip."""
    return T.Compose([T.RandomResizedCrop(image_size, scale=(0.08, 1.0), interpolation=T.InterpolationMode.BICUBIC),
                      T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)])


class _FromOpenClip(logging.Filter):
    """Drops the records that open_clip's modules log on the root logger (everyone else's pass)."""
    folder = os.path.dirname(open_clip.__file__)

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.pathname.startswith(self.folder)


@contextmanager
def _quiet_logging():
    """Drop open_clip's `ERROR:root:` log of a failed download during the call: our error says it better."""
    root, quiet = logging.getLogger(), _FromOpenClip()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def looks_like_checkpoint(weights: str | None) -> bool:
    """Whether a weights name is a checkpoint file's path (else an open_clip tag such as 'openai')."""
    return bool(weights) and (os.path.sep in weights or weights.startswith("~") or
                              weights.endswith((".pt", ".bin", ".safetensors", ".pth")))


def load_open_clip(name: str, pretrained: str | None, device) -> tuple[CLIP, Callable, Callable]:
    if looks_like_checkpoint(pretrained):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise BackboneUnavailable(f"checkpoint file {path} does not exist; pass the path of an open_clip "
                                      f"{name} checkpoint (pretrained=PATH)")
        state = None if path.suffix == ".safetensors" else load_state_dict(path)  # read once, here
        with _quiet_logging():  # "no pretrained weights loaded": they are loaded next
            model, _, val_pre = open_clip.create_model_and_transforms(name, pretrained=None, device="cpu")
        try:
            if state is None:
                open_clip.load_checkpoint(model, str(path))
            else:  # open_clip's own conversions (old formats, position-embedding resizing) on the dict read above
                with mock.patch.object(open_clip.factory, "load_state_dict", lambda *a, **k: state):
                    open_clip.factory.load_checkpoint(model, str(path))
        except Exception as e:
            shapes = {k: tuple(v.shape) for k, v in (state or {}).items() if k in ("positional_embedding",
                                                                                     "visual.conv1.weight")}
            hint = (" It looks like a miniclip checkpoint: load it as backbone 'miniclip' (or 'miniclip-v2')."
                    if shapes.get("positional_embedding", (0,))[0] == MINICLIP_CFG["text_cfg"]["context_length"]
                    else " Is it a checkpoint of another model?")
            raise BackboneUnavailable(f"checkpoint {path} does not fit open_clip's {name} ({cause(e)}).{hint}") from e
        return model.to(device), None, val_pre
    offline = pretrained is not None and not _hub_reachable()
    try:
        with _hub_offline() if offline else nullcontext(), _quiet_logging():
            model, train_pre, val_pre = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device)
    except BackboneUnavailable:
        raise
    except Exception as e:
        raise BackboneUnavailable(
            f"could not load weights {pretrained!r} for {name} ({cause(e)}). "
            "What to do: go online once so open_clip downloads and caches them; or download the checkpoint "
            f"elsewhere and pass its file path: load_backbone({name!r}, pretrained=PATH); or run on the offline "
            "miniature: backbone 'miniclip', the 'miniature' profile.") from e
    return model, train_pre, val_pre


