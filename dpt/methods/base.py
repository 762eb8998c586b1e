"""What every prompt method is: text features for its classes, logits and a loss; methods differ only in
their prompt modules and loss, so one trainer drives them all."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import Backbone
from ..frozen import UsesFrozen
from ..prompts import hand_crafted_features
from .config import MethodConfig


class PromptMethod(UsesFrozen):
    """A method = text features for the current classes (+ a training loss)."""
    name = "base"
    config_fields: tuple[str, ...] = ()  # the MethodConfig fields this method reads
    train_defaults: dict = {}  # TrainConfig overrides this method needs (on top of the profile's)
    learns = True  # False for methods with nothing to train (they need no training features)
    encodes_images = False  # True: inputs are preprocessed images, not cached features (visual prompts)
    text_per_image = False  # True: class text features depend on the image (CoCoOp), so none are shared
    eval_batch_size: int | None = None  # samples per evaluation forward (None: the caller's default)

    def __init__(self, backbone: Backbone, classnames: Sequence[str], template: str, cfg: MethodConfig):
        super().__init__()
        self.use_frozen("backbone", backbone)  # frozen and shared: moved by .to(), not part of the state dict
        self.cfg = cfg
        self.template = template
        self.logit_scale = backbone.logit_scale
        self.set_classnames(classnames)

    def set_classnames(self, classnames: Sequence[str], template: str | None = None) -> None:
        """Point the method at other classes (novel ones, a target dataset's), written with `template`."""
        self.classnames = list(classnames)
        self.template = template or self.template
        self.register_buffer("hand", hand_crafted_features(self.backbone, classnames, self.template), persistent=False)

    def text_features(self) -> torch.Tensor:
        return self.hand

    def logits(self, image_features: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        text = self.text_features() if text is None else text
        return self.logit_scale * image_features @ text.T

    def loss(self, image_features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError(f"{self.name} has nothing to train")

    def backward(self, loss: torch.Tensor, terms: dict, scaling=None) -> None:
        """The loss into gradients; a method that reads its gradients calls `scaling.unscale_()` first (fp16)."""
        (scaling.scale(loss) if scaling is not None else loss).backward()

    def begin_training(self, data) -> None:
        """What a method derives from its training set before the first epoch (dpt's adaptive anchor)."""

    def end_training(self, data) -> None:
        """Called by the trainer after its last epoch with the same training set (dpt's inference weight)."""

    @classmethod
    def check_run(cls, cfg: MethodConfig, train) -> None:
        """Refuse (before any work) a method config that cannot work with this training config (a TrainConfig)."""

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """Called by the trainer after each epoch (0-based), before its checkpoint (PromptSRC's aggregation)."""

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def critic_parameters(self) -> list[nn.Parameter]:
        """Parameters trained by their own optimiser (an MI critic), not by the prompt's SGD."""
        return []


def ensembled(soft: torch.Tensor, hand: torch.Tensor, weight: float) -> torch.Tensor:
    """Class features (1 - w) soft + w hand, renormalised: the hand-crafted view mixed back in at test time."""
    return soft if weight == 0 else F.normalize((1 - weight) * soft + weight * hand, dim=-1)
