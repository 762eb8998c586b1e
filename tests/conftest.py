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


def make_dtd(root, classes=("banded", "braided", "bubbly", "bumpy"), per_split=None):
    """A tiny CoOp-style DTD tree (real JPEG files + split_zhou JSON) under `root`; returns root.
    per_split: {split: images per class}, default train 3 / val 1 / test 2."""
    import json
    from pathlib import Path

    from PIL import Image
    per_split = per_split or {"train": 3, "val": 1, "test": 2}
    folder = Path(root) / "dtd"
    split = {}
    for name, n in per_split.items():
        split[name] = []
        for label, c in enumerate(classes):
            (folder / "images" / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                rel = f"{c}/{name}_{i}.jpg"
                Image.new("RGB", (24, 24), ((40 * label) % 255, 20 * i, 90)).save(folder / "images" / rel)
                split[name].append([rel, label, c])
    (folder / "split_zhou_DescribableTextures.json").write_text(json.dumps(split))
    return Path(root)


# What `make test-fast` (pytest -m "not slow") leaves out, beside the tests marked slow where they are defined:
# whole modules that start a browser, JupyterLab, Ray, the speed benchmarks or the real path's commands; every
# test that builds a ViT-B-16
# (the fixtures below; its 600 MB checkpoint too); and every notebook cell (nbval).
SLOW_MODULES = {"test_browser", "test_jupyterlab", "test_ray_engine", "test_speed_benchmark", "test_real_path"}
SLOW_FIXTURES = {"vit_b16_random", "vit_checkpoint"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = getattr(item, "module", None)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (module is not None and module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES
                or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or any(v in SLOW_FIXTURES for v in params.values() if isinstance(v, str))
                or str(item.fspath).endswith(".ipynb")):
            item.add_marker(pytest.mark.slow)
