import os

import pytest
import torch

os.environ.setdefault("DPT_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "dpt-tests"))
torch.set_num_threads(min(2, os.cpu_count() or 1))
# the library reads no environment: tests that call it directly cache where the commands (run in-process) do
from dpt.features import set_cache_dir  # noqa: E402
set_cache_dir(os.environ["DPT_CACHE"])


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


def dpt_command(monkeypatch, capsys, *argv):
    """Run `python -m dpt ARGV` in-process as the console does (one-line errors naming the command's own options);
    returns (exit status, captured stdout/stderr)."""
    import sys

    from dpt.experiments.cli import dispatch, options_of_this_command
    from dpt.experiments.command_line import run_cli
    monkeypatch.setattr(sys, "argv", ["dpt", *map(str, argv)])
    try:
        run_cli(dispatch, options=options_of_this_command)
        code = 0
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr()


def one_line(code, io, match):
    """A refusal: exit status 2 and one line on stderr, in dpt's words, that says `match`; returns that line."""
    lines = io.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in io.err, io.err
    assert match in lines[0], lines[0]
    return lines[0]


def make_dtd(root, classes=("banded", "braided", "bubbly", "bumpy"), per_split=None):
    """A tiny CoOp-style DTD tree (real JPEG files + split_zhou JSON) under `root`; returns root.
    per_split: {split: images per class}, default train 3 / val 1 / test 2."""
    return make_benchmark(root, "DTD", classes, per_split)


def make_benchmark(root, name, classes, per_split=None):
    """A tiny CoOp-style tree of benchmark `name` (one with a split_zhou JSON: real JPEG files, CoOp's folder
    names) under `root`; returns root."""
    import json
    from pathlib import Path

    from PIL import Image

    from dpt.experiments.datasets import BENCHMARKS
    spec = BENCHMARKS[name]
    per_split = per_split or {"train": 3, "val": 1, "test": 2}
    folder = Path(root) / spec.coop_dir
    split = {}
    for part, n in per_split.items():
        split[part] = []
        for label, c in enumerate(classes):
            (folder / spec.image_dir / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                rel = f"{c}/{part}_{i}.jpg"
                Image.new("RGB", (24, 24), ((40 * label) % 255, 20 * i, 90)).save(folder / spec.image_dir / rel)
                split[part].append([rel, label, c])
    (folder / spec.split_file).write_text(json.dumps(split))
    return Path(root)


def make_all_benchmarks(root, classes=("alpha", "beta", "gamma", "delta"), per_split=None):
    """Tiny fixtures of all 11 benchmarks and ImageNet's 4 variants, each in CoOp's layout (split files, ImageNet's
    classnames.txt and image folders, FGVCAircraft's variant lists) under `root`; returns root."""
    from pathlib import Path

    from PIL import Image

    from dpt.experiments.datasets import BENCHMARKS, IMAGENET_VARIANTS
    root, per_split = Path(root), per_split or {"train": 3, "val": 1, "test": 2}
    jpeg = lambda path, shade: (path.parent.mkdir(parents=True, exist_ok=True),
                                Image.new("RGB", (24, 24), (shade, 60, 120)).save(path))
    for name, spec in BENCHMARKS.items():
        if spec.split_file:
            make_benchmark(root, name, classes, per_split)
    wnids = [f"n0000000{i}" for i in range(len(classes))]
    folder = root / BENCHMARKS["ImageNet"].coop_dir
    folder.mkdir(parents=True)
    (folder / "classnames.txt").write_text("".join(f"{w} {c}\n" for w, c in zip(wnids, classes)))
    for label, w in enumerate(wnids):
        for part, n in (("train", per_split["train"]), ("val", per_split["test"])):
            for i in range(n):
                jpeg(folder / "images" / part / w / f"{i}.jpg", 40 * label + 10 * i)
    folder = root / BENCHMARKS["FGVCAircraft"].coop_dir
    folder.mkdir(parents=True)
    (folder / "variants.txt").write_text("".join(f"{c}\n" for c in classes))
    for part, n in per_split.items():
        lines = []
        for label, c in enumerate(classes):
            for i in range(n):
                jpeg(folder / "images" / f"{part}{label}{i}.jpg", 40 * label + 10 * i)
                lines.append(f"{part}{label}{i} {c}")
        (folder / f"images_variant_{part}.txt").write_text("\n".join(lines) + "\n")
    for name, spec in IMAGENET_VARIANTS.items():
        folder = root / spec.coop_dir
        folder.mkdir(parents=True)
        (folder / "classnames.txt").write_text("".join(f"{w} {c}\n" for w, c in zip(wnids, classes)))
        for label, w in enumerate(wnids):
            sub = str(label) if name == "ImageNetV2" else w
            for i in range(per_split["test"]):
                jpeg(folder / spec.image_dir / sub / f"{i}.jpg", 40 * label + 10 * i)
    return root


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


@pytest.fixture(autouse=True)
def _cache_dir_restored():
    """A command run in-process sets the library's cache folder from $DPT_CACHE: each test starts from the suite's."""
    import dpt.features
    before = dpt.features.CACHE_DIR
    yield
    dpt.features.CACHE_DIR = before
