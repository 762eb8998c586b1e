import os

import pytest
import torch

os.environ.setdefault("DPT_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "dpt-tests"))
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def mini_random():
    """The miniclip architecture with random weights (fast, needs no checkpoint)."""
    from dpt.backbones import load_backbone
    torch.manual_seed(0)
    return load_backbone("miniclip", pretrained=None)


@pytest.fixture(scope="session")
def miniclip():
    from dpt.backbones import load_backbone
    return load_backbone("miniclip")


@pytest.fixture(scope="session")
def vit_b16_random():
    from dpt.backbones import load_backbone
    torch.manual_seed(0)
    return load_backbone("ViT-B-16", pretrained=None)
