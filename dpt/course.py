"""The notebooks' shared setup: pick the profile, the device and where figures and results go.

Every notebook starts with

    from dpt.course import setup
    P = setup()

The profile is `miniature` (miniclip + ShapeWorld, any CPU, offline) unless the environment variable
DPT_PROFILE says `real` (open_clip ViT-B-16 / openai + the benchmark datasets under DPT_DATA). A
`real` request that cannot be met (no weights, no data) falls back to the miniature with a message
saying what is missing, so a notebook always runs top to bottom.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Profile:
    name: str  # "miniature" or "real"
    backbone_name: str
    pretrained: str | None
    datasets: list[str]
    device: str
    figures: Path = field(default_factory=lambda: ROOT / "figures")
    _backbone: object = None

    @property
    def backbone(self):
        """The frozen CLIP backbone of this profile (loaded once)."""
        if self._backbone is None:
            from .backbones import load_backbone
            self._backbone = load_backbone(self.backbone_name, pretrained=self.pretrained, device=self.device)
        return self._backbone

    def dataset(self, name: str | None = None):
        from .data import load_dataset
        return load_dataset(name or self.datasets[0], root=os.environ.get("DPT_DATA"))

    def results_file(self, stem: str) -> Path:
        """results/<stem>.json for the miniature, results/<stem>_real.json for the real profile."""
        return ROOT / "results" / (f"{stem}.json" if self.name == "miniature" else f"{stem}_real.json")

    def savefig(self, fig, name: str) -> Path:
        """Save a figure as figures/<name>.png (the README shows these)."""
        self.figures.mkdir(parents=True, exist_ok=True)
        path = self.figures / f"{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        return path

    def __repr__(self) -> str:
        return (f"Profile({self.name}: backbone {self.backbone_name}, datasets {', '.join(self.datasets)}, "
                f"device {self.device})")


def _real_available() -> str | None:
    """None if the real path can run here, else what is missing."""
    if not torch.cuda.is_available():
        return "no CUDA GPU"
    root = os.environ.get("DPT_DATA")
    if not root or not Path(root).is_dir():
        return "DPT_DATA does not point at a folder with the benchmark datasets"
    return None


def setup(profile: str | None = None, seed: int = 0) -> Profile:
    """Choose the profile (argument, else $DPT_PROFILE, else miniature), seed everything, print a summary."""
    from .data import BENCHMARKS, MINIATURE_DATASETS
    wanted = (profile or os.environ.get("DPT_PROFILE") or "miniature").lower()
    if wanted not in ("miniature", "real"):
        raise ValueError(f"unknown profile {wanted!r}: use 'miniature' or 'real'")
    if wanted == "real" and (missing := _real_available()):
        warnings.warn(f"profile 'real' needs a GPU, the ViT-B-16 weights and the datasets ({missing}); "
                      "using the offline miniature instead", stacklevel=2)
        wanted = "miniature"
    torch.manual_seed(seed)
    if wanted == "real":
        p = Profile("real", "ViT-B-16", "openai", list(BENCHMARKS), "cuda")
    else:
        p = Profile("miniature", "miniclip", "default", list(MINIATURE_DATASETS), "cpu")
    print(p)
    return p

