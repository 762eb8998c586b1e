"""The real path as a researcher meets it: a real-profile run on CoOp-layout fixture
folders with a random-initialised ViT-B-16 checkpoint file; only the images a run uses are read; results of one
profile never land in another's file, and rows of different identities are never pooled."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_dtd

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def vit_checkpoint(tmp_path_factory, vit_b16_random):
    path = tmp_path_factory.mktemp("ckpt") / "open_clip_pytorch_model.bin"
    torch.save(vit_b16_random.model.state_dict(), path)
    return path


def dpt_cli(*argv, cwd, env=None, check=True):
    import os
    out = subprocess.run([sys.executable, "-m", "dpt", *map(str, argv)], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    if check and out.returncode != 0:
        raise AssertionError(out.stdout[-2000:] + out.stderr[-2000:])
    return out


def committed_results() -> dict[str, bytes]:
    return {str(p.relative_to(ROOT)): p.read_bytes() for p in sorted((ROOT / "results").rglob("*.json"))}


def test_a_real_profile_run_on_fixtures_with_a_checkpoint_file(tmp_path, vit_checkpoint):
    """base2novel --profile real with --pretrained FILE on a CoOp-layout DTD: the rows go to the real profile's own
    results file (never the miniature's), record the file by name, not by this machine's path, and the committed
    results are byte for byte what they were."""
    before = committed_results()
    data = make_dtd(tmp_path / "data", per_split={"train": 3, "val": 1, "test": 2})
    work = tmp_path / "work"
    work.mkdir()
    dpt_cli("base2novel", "--profile", "real", "--pretrained", vit_checkpoint, "--device", "cpu", "--data-root", data,
            "--datasets", "dtd", "--methods", "zeroshot", "coop", "--seeds", "1", "--shots", "2", "--epochs", "2",
            "--augment", "views", "--views", "1", "--cache-dir", tmp_path / "cache", "--no-progress", cwd=work)
    rows = json.loads((work / "results" / "real" / "base2novel.json").read_text())["rows"]
    assert {r["label"] for r in rows} == {"zeroshot", "coop"} and all(r["dataset"] == "DTD" for r in rows)
    coop = next(r for r in rows if r["label"] == "coop")
    assert coop["identity"]["backbone"] == "ViT-B-16" and coop["identity"]["augment"] == "views"
    assert coop["identity"]["train"]["batch_size"] == 32 and coop["identity"]["train"]["warmup_epochs"] == 1
    assert coop["provenance"]["weights_source"] == vit_checkpoint.name  # no machine path in a row
    assert str(tmp_path) not in json.dumps(rows)
    assert committed_results() == before
    assert not (work / "results" / "miniature-v1").exists()


def test_the_real_profile_augments_as_the_references_do():
    """A fresh crop and flip at every step (the miniature could not measure how many cached views match it)."""
    from dpt.experiments.profiles import get_profile
    real = get_profile("real")
    assert (real.augment, real.views) == ("online", 0)
    assert real.augmentation("coop") == real.augmentation("ivlp") == ("online", 0)
    assert real.augmentation("zeroshot") == ("none", 0)


def test_rows_of_another_backbone_are_refused_unless_asked(tmp_path, vit_checkpoint):
    data = make_dtd(tmp_path / "data", per_split={"train": 2, "val": 1, "test": 2})
    out = tmp_path / "mixed.json"
    dpt_cli("base2novel", "--methods", "zeroshot", "--datasets", "mini_toys", "--seeds", "1", "--split", "val",
            "--out", out, "--no-progress", cwd=tmp_path)
    args = ["base2novel", "--profile", "real", "--pretrained", vit_checkpoint, "--device", "cpu", "--data-root", data,
            "--datasets", "DTD", "--methods", "zeroshot", "--seeds", "1", "--split", "val", "--out", out, "--no-progress"]
    refused = dpt_cli(*args, cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "holds rows of miniclip" in refused.stderr and "--mix-backbones" in refused.stderr
    assert len(json.loads(out.read_text())["rows"]) == 1
    dpt_cli(*args, "--mix-backbones", cwd=tmp_path)
    assert {r["identity"]["backbone"] for r in json.loads(out.read_text())["rows"]} == {"miniclip", "ViT-B-16"}


def test_a_run_reads_only_its_shots_and_the_evaluation_split(miniclip, tmp_path, monkeypatch):
    """Images opened by one CoOp run: 4 shots of each of the 12 base classes and every val image (base and novel),
    nothing else of the train split; a second seed reads only the shots it does not share with the first."""
    from dpt.data import load_miniature
    from dpt.data.dataset import ClassificationDataset, few_shot, subsample_classes
    from dpt.run import RunConfig, base_to_novel
    from dpt.trainer import TrainConfig
    opened = []
    real = ClassificationDataset.load_image
    monkeypatch.setattr(ClassificationDataset, "load_image", lambda self, it: opened.append(it.source) or real(self, it))
    monkeypatch.setattr("dpt.features.default_workers", lambda: 0)  # count in this process
    ds = load_miniature("mini_toys")
    run = RunConfig("coop", shots=4, train=TrainConfig(epochs=2), eval_split="val")
    base_to_novel(miniclip, ds, run, cache_dir=tmp_path, progress=False)
    shots = {it.source for it in few_shot(subsample_classes(ds, "base").train, 4, 1)}
    assert len(opened) == len(shots) + len(ds.val) == 4 * 12 + 24 * 12
    assert set(opened) == shots | {it.source for it in ds.val}
    opened.clear()
    base_to_novel(miniclip, ds, RunConfig("coop", shots=4, train=TrainConfig(epochs=2, seed=2), eval_split="val"),
                  cache_dir=tmp_path, progress=False)
    second = {it.source for it in few_shot(subsample_classes(ds, "base").train, 4, 2)}
    assert set(opened) == second - shots  # the evaluation split and the shared shots come from the cache


def test_augmented_views_are_the_same_pictures_for_every_run(mini_random, tmp_path):
    """View v of an image is drawn from a generator seeded by the image and v: two runs (seeds, methods) that
    share a shot share its views, and a fresh cache gives the same features."""
    from dpt.data import load_miniature
    from dpt.features import image_features
    ds = load_miniature("mini_toys", per_class={"train": 2, "val": 1, "test": 1})
    a = image_features(mini_random, ds, "train", views=3, cache_dir=tmp_path / "a", progress=False).features
    b = image_features(mini_random, ds, "train", views=3, cache_dir=tmp_path / "b", progress=False).features
    assert a.shape == (3, 24 * 2, 128) and torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])  # different views are different crops


def test_the_cycled_views_and_online_augmentation_train_deterministically(mini_random):
    """Epoch e trains on view e mod V; online augmentation draws the same crops in a rerun (exact resume)."""
    from dpt.inputs import CachedViews, OnlineImages
    from dpt.data import load_miniature
    feats = torch.arange(3 * 4 * 2, dtype=torch.float32).view(3, 4, 2)
    cv = CachedViews(feats, torch.zeros(4, dtype=torch.long))
    order = torch.tensor([2, 0, 3, 1])
    assert torch.equal(next(cv.batches(4, order, 4)), feats[1][order])  # epoch 4 -> view 1
    ds = load_miniature("mini_toys", per_class={"train": 2, "val": 1, "test": 1})
    online = OnlineImages(ds, ds.train[:4], mini_random.train_preprocess, seed=1, workers=0)
    first = torch.cat(list(online.batches(0, order, 2)))
    assert torch.equal(first, torch.cat(list(online.batches(0, order, 2))))
    assert not torch.equal(first, torch.cat(list(online.batches(1, order, 2))))  # a new epoch, new crops


def test_rows_of_different_identities_are_shown_apart_never_pooled(tmp_path):
    """A 2-shot trial beside the 16-shot rows of one label: the table shows two lines, labelled by what differs."""
    from dpt.experiments.summary import distinguish, summarise
    row = {"label": "coop", "dataset": "mini_toys", "split": "test", "base": 90.0, "novel": 50.0, "hm": 64.29}
    ident = {"method": "coop", "shots": 16, "seed": 1, "train": {"epochs": 30, "seed": 1}, "data": "d"}
    rows = [{**row, "seed": s, "identity": {**ident, "seed": s, "train": {"epochs": 30, "seed": s}}} for s in (1, 2)]
    rows.append({**row, "seed": 1, "base": 60.0, "identity": {**ident, "shots": 2, "train": {"epochs": 2, "seed": 1}}})
    labels = sorted({r["label"] for r in distinguish(rows)})
    assert labels == ["coop [shots=16, train.epochs=30]", "coop [shots=2, train.epochs=2]"]
    table = {(s["label"], s["dataset"]): s for s in summarise(rows, intervals=False)}
    assert table["coop [shots=16, train.epochs=30]", "mini_toys"]["base"] == 90.0
    assert table["coop [shots=2, train.epochs=2]", "mini_toys"]["n"] == 1
    assert distinguish(rows[:2]) == rows[:2]  # seeds alone: pooled as before


def test_a_rows_interval_does_not_depend_on_the_other_datasets_in_the_table():
    from dpt.experiments.bootstrap import Bootstrap, pack
    rng = np.random.default_rng(0)

    def row(dataset, seed):
        hits = {h: rng.random(40) < 0.7 for h in ("base", "novel")}
        return {"label": "coop", "dataset": dataset, "seed": seed, "split": "test", "identity": {"data": dataset},
                "base": 100 * hits["base"].mean(), "novel": 100 * hits["novel"].mean(),
                "correct": {h: pack(v) for h, v in hits.items()}}
    rows = [row(d, s) for d in ("mini_toys", "mini_paints") for s in (1, 2)]
    alone = Bootstrap([r for r in rows if r["dataset"] == "mini_toys"]).interval("coop", "mini_toys", "novel")
    together = Bootstrap(rows).interval("coop", "mini_toys", "novel")
    assert (alone.lo, alone.hi) == (together.lo, together.hi)


def test_training_only_inside_the_warm_up_is_refused():
    from dpt.errors import BadInput
    from dpt.trainer import TrainConfig
    with pytest.raises(BadInput, match="trains only at the warm-up lr"):
        TrainConfig(epochs=1)
    with pytest.raises(BadInput, match="epochs=3 with warmup_epochs=5"):
        TrainConfig(epochs=3, warmup_epochs=5)
    TrainConfig(epochs=1, warmup_epochs=0)


def test_the_data_command_names_every_missing_dataset(tmp_path):
    data = make_dtd(tmp_path / "data")
    out = dpt_cli("data", "--data-root", data, "--datasets", "dtd", "EuroSAT", "ucf101", cwd=tmp_path, check=False)
    assert out.returncode == 1
    assert "DTD             found        4 classes" in out.stdout
    assert "1 of 3 found" in out.stdout and "expects eurosat/split_zhou_EuroSAT.json" in out.stdout
    assert "expects ucf101/split_zhou_UCF101.json" in out.stdout
    ok = dpt_cli("data", "--data-root", data, "--datasets", "DTD", cwd=tmp_path)
    assert "all 1 found" in ok.stdout
    (data / "dtd" / "images" / "banded" / "test_0.jpg").unlink()
    broken = dpt_cli("data", "--data-root", data, "--datasets", "DTD", cwd=tmp_path, check=False)
    assert broken.returncode == 1 and "1 listed image(s) missing" in broken.stdout


# ---- the errors a researcher met on the real path ----------------------------------------
def test_a_malformed_split_file_names_the_format_plainly(tmp_path):
    from dpt.experiments.datasets import load_benchmark
    from dpt.errors import BadInput
    make_dtd(tmp_path)
    (tmp_path / "dtd" / "split_zhou_DescribableTextures.json").write_text('{"train": [["a.jpg", 0]]}')
    with pytest.raises(BadInput) as e:
        load_benchmark("DTD", tmp_path)
    assert "{train, val, test: [[image, label, classname], ...]}" in str(e.value) and "{{" not in str(e.value)


def test_fgvc_aircraft_without_its_image_lists_is_one_line(tmp_path):
    from dpt.experiments.datasets import load_benchmark
    from dpt.errors import MissingData
    (tmp_path / "fgvc_aircraft").mkdir()
    (tmp_path / "fgvc_aircraft" / "variants.txt").write_text("707-320\n727-200\n")
    with pytest.raises(MissingData, match="images_variant_train.txt.* not found beside"):
        load_benchmark("FGVCAircraft", tmp_path)


def test_offline_advice_is_for_the_command_line_and_quiet(monkeypatch, capsys):
    from dpt import backbones, pretrained
    from dpt.errors import DptError
    monkeypatch.setattr(pretrained, "_hub_reachable", lambda *a, **k: False)
    with pytest.raises(DptError) as e:
        backbones.load_backbone("ViT-B-16", pretrained="openai")
    msg = str(e.value)
    assert "pretrained=PATH" in msg and "'miniature' profile" in msg and "--" not in msg  # the library's words
    from dpt.experiments.command_line import for_the_command_line
    shown = for_the_command_line(msg)  # what a command prints: the options that set them added
    assert "--pretrained PATH" in shown and "--profile miniature" in shown
    assert "ERROR:root" not in capsys.readouterr().err


def test_a_tilde_checkpoint_path_is_expanded(tmp_path, monkeypatch, vit_checkpoint):
    from dpt.backbones import load_backbone, weights_fingerprint
    monkeypatch.setenv("HOME", str(vit_checkpoint.parent))
    bb = load_backbone("ViT-B-16", pretrained="~/" + vit_checkpoint.name)
    assert weights_fingerprint(bb)


def test_dataset_names_ignore_case_and_suggest(tmp_path):
    from dpt.experiments.datasets import resolve_dataset_names
    from dpt.errors import BadInput
    assert resolve_dataset_names(["dtd", "oxford_pets", "OXFORDPETS", "imagenet-a"]) == ["DTD", "OxfordPets", "ImageNetA"]
    with pytest.raises(BadInput, match="did you mean 'OxfordPets'"):
        resolve_dataset_names(["oxfrdpets"])


def test_a_truncated_image_and_then_a_removed_one_both_say_what_to_do(tmp_path, mini_random):
    from dpt.experiments.datasets import load_benchmark
    from dpt.errors import DptError
    from dpt.features import image_features
    make_dtd(tmp_path)
    img = tmp_path / "dtd" / "images" / "banded" / "test_0.jpg"
    img.write_bytes(img.read_bytes()[:40])
    ds = load_benchmark("DTD", tmp_path)
    with pytest.raises(DptError, match="replace it with a good copy .or delete it and its entry from the dataset's split file"):
        image_features(mini_random, ds, "test", cache_dir=tmp_path / "c", progress=False)
    img.unlink()
    from dpt.experiments.identity import split_fingerprint
    with pytest.raises(DptError, match="1 image file.s. of its test split do not exist .* remove their entries from the split"):
        split_fingerprint(load_benchmark("DTD", tmp_path), "test")


def test_a_miniclip_checkpoint_for_vit_b16_says_so(tmp_path):
    from dpt.backbones import ASSETS, BackboneUnavailable, load_backbone
    with pytest.raises(BackboneUnavailable, match="miniclip checkpoint: load it as backbone 'miniclip'"):
        load_backbone("ViT-B-16", pretrained=str(ASSETS / "miniclip.pt"))


def test_methods_help_lists_the_valid_names(tmp_path):
    out = dpt_cli("base2novel", "--help", cwd=tmp_path)
    assert "zeroshot, coop, coop_ensemble" in " ".join(out.stdout.split())


def test_missing_dataset_advice_fits_the_command(tmp_path):
    out = dpt_cli("transfer", "--profile", "real", "--source", "ImageNet", "--targets", "ImageNet", "--methods", "coop",
                  "--device", "cpu", "--data-root", tmp_path, "--pretrained", "none.bin", cwd=tmp_path, check=False)
    assert out.returncode == 2 and "--datasets miniature" not in out.stderr


@pytest.mark.parametrize("augment, views", [("online", 0), ("views", 2)])
def test_a_cached_feature_method_trains_with_each_augmentation(tmp_path, augment, views):
    """CoOp through the whole grid with online augmentation (the image encoder in the loop) and with cycled views:
    the run trains, and its identity records the augmentation."""
    from dpt.experiments.base2novel import run_benchmark
    row, = run_benchmark(["coop"], ["mini_toys"], [1], tmp_path / "r.json", split="val", shots=2, augment=augment,
                         views=views, train_overrides={"epochs": 2}, progress=False)
    assert row["identity"]["augment"] == augment and row["identity"]["views"] == views and row["base"] > 0


def test_a_labels_suffix_is_the_same_on_every_dataset():
    """Two setups of one label on one dataset, one of them on another dataset too: both datasets' rows of a setup
    carry the same suffix, so its average pools like with like (not 'average 1/2')."""
    from dpt.experiments.summary import distinguish, summarise
    def row(dataset, shots):
        return {"label": "coop", "dataset": dataset, "split": "test", "seed": 1, "base": 80.0, "novel": 60.0,
                "hm": 68.57, "identity": {"method": "coop", "shots": shots, "seed": 1, "dataset": dataset}}
    rows = [row("mini_toys", 16), row("mini_toys", 2), row("mini_paints", 16)]
    labels = [r["label"] for r in distinguish(rows)]
    assert labels == ["coop [shots=16]", "coop [shots=2]", "coop [shots=16]"]
    avg = {s["label"]: s for s in summarise(distinguish(rows), intervals=False) if s["dataset"] == "average"}
    assert avg["coop [shots=16]"]["n"] == 2 and avg["coop [shots=2]"]["n"] == 1
