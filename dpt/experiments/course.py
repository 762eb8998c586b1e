"""The notebooks' shared setup: pick the profile, the device and where figures and results go.

Every notebook starts with

    from dpt.experiments.course import setup
    P = setup()

The profile (`dpt.experiments.profiles`) is `miniature` (miniclip + ShapeWorld, any CPU, offline) unless the
environment variable DPT_PROFILE says `real` (open_clip ViT-B-16 / openai + the benchmark datasets
under DPT_DATA). A `real` request that cannot be met (no GPU, no data) falls back to the miniature
with a message saying what is missing, so a notebook always runs top to bottom.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from ..errors import BadInput
from .profiles import Profile, get_profile

ROOT = Path(__file__).resolve().parents[2]


class Course:
    """A profile plus what the notebooks need around it: the loaded backbone, datasets, figures, results."""

    def __init__(self, profile: Profile, figures: Path = ROOT / "figures"):
        self.profile, self.figures, self._backbone = profile, figures, None

    name = property(lambda self: self.profile.name)
    datasets = property(lambda self: list(self.profile.datasets))
    device = property(lambda self: self.profile.device)

    @property
    def backbone(self):
        """The frozen CLIP backbone of this profile (loaded once)."""
        if self._backbone is None:
            from ..backbones import load_backbone
            p = self.profile
            self._backbone = load_backbone(p.backbone, pretrained=p.pretrained, device=p.device)
        return self._backbone

    def dataset(self, name: str | None = None):
        from ..data import load_dataset
        return load_dataset(name or self.datasets[0], root=os.environ.get("DPT_DATA"))

    def train_config(self, method: str, seed: int = 1, **overrides):
        """The profile's training config for `method` (the same one `python -m dpt base2novel` uses)."""
        return self.profile.train_config(method, seed, overrides)

    def run_config(self, method: str, seed: int = 1, method_cfg=None, classes: str = "base", shots: int | None = None,
                   dataset: str | None = None, **train_overrides):
        """A RunConfig for `method` with the profile's defaults, augmentation included (for train_on_base /
        base_to_novel; the same one `python -m dpt base2novel` uses); classes "all" trains on every class (the
        transfer and few-shot protocols)."""
        return self.profile.run_config(method, seed, dataset, shots, classes, "test", train_overrides, method_cfg)

    def results_file(self, stem: str) -> Path:
        """This profile's committed results file for `stem` (results/<profile>/<stem>.json in the project)."""
        return ROOT / self.profile.results_file(stem)

    def stored(self, stem: str, label: str, dataset: str, seed: int = 1, split: str = "test") -> dict | None:
        """The committed row of results/<stem>.json for (label, dataset, seed, split), None if there is none: a
        notebook that trains a run itself checks its numbers against the command's."""
        from .store import read_rows
        path = self.results_file(stem)
        hits = [r for r in (read_rows(path) if path.exists() else [])
                if (r["label"], r.get("dataset"), r["seed"], r["split"]) == (label, dataset, seed, split)]
        if len(hits) > 1:
            raise BadInput(f"{path} holds {len(hits)} rows for {label} on {dataset}, seed {seed}, {split}; "
                           "keep one (they differ in shots or training settings)")
        return hits[0] if hits else None

    def savefig(self, fig, name: str) -> None:
        """Save a figure as figures/<name>.png (the README shows these)."""
        self.figures.mkdir(parents=True, exist_ok=True)
        fig.savefig(self.figures / f"{name}.png", dpi=110, bbox_inches="tight")

    def __repr__(self) -> str:
        p = self.profile
        return (f"Profile({p.name}: backbone {p.backbone}, datasets {', '.join(p.datasets)}, device {p.device})")


def _real_available() -> str | None:
    """None if the real path can run here, else what is missing."""
    if not torch.cuda.is_available():
        return "no CUDA GPU"
    root = os.environ.get("DPT_DATA")
    if not root or not Path(root).is_dir():
        return "DPT_DATA does not point at a folder with the benchmark datasets"
    return None


def setup(profile: str | None = None, seed: int = 0) -> Course:
    """Choose the profile (argument, else $DPT_PROFILE, else miniature), seed everything, print a summary."""
    chosen = get_profile(profile)
    if chosen.name == "real" and (missing := _real_available()):
        warnings.warn(f"profile 'real' needs a GPU, the ViT-B-16 weights and the datasets ({missing}); "
                      "using the offline miniature instead", stacklevel=2)
        chosen = get_profile("miniature")
    torch.manual_seed(seed)
    course = Course(chosen, figures=Path(os.environ.get("DPT_FIGURES") or ROOT / "figures"))  # tests redirect it
    print(course)
    return course
