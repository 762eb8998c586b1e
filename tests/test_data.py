import json

import pytest
from PIL import Image

from dpt.data import load_dataset
from dpt.experiments.datasets import resolve_dataset_names
from dpt.experiments.datasets import load_benchmark
from dpt.data.dataset import ClassificationDataset, Item, few_shot, subsample_classes


def _toy(n_classes=5, per=4):
    items = tuple(Item(f"img{c}_{i}", c) for c in range(n_classes) for i in range(per))
    return ClassificationDataset("toy", tuple(f"class{c}" for c in range(n_classes)), "a photo of a {}.",
                                 items, items, items, loader=lambda s: Image.new("RGB", (4, 4)))


def test_base_novel_split_rounds_up_and_reindexes():
    ds = _toy(5)
    base, novel = subsample_classes(ds, "base"), subsample_classes(ds, "novel")
    assert base.classnames == ("class0", "class1", "class2")
    assert novel.classnames == ("class3", "class4")
    assert {it.label for it in novel.test} == {0, 1}
    assert all(it.source.startswith(("img3", "img4")) for it in novel.test)
    assert {it.label for it in base.train} == {0, 1, 2}


def test_fewer_than_two_base_classes_refused():
    with pytest.raises(ValueError, match="fewer than 2 base classes"):
        subsample_classes(_toy(2), "base")


def test_empty_class_list_refused():
    with pytest.raises(ValueError, match="empty class list"):
        ClassificationDataset("x", (), "{}", (), (), (), loader=None)


def test_few_shot_is_seeded_and_per_class():
    items = _toy(4, per=10).train
    a, b, c = few_shot(items, 3, seed=1), few_shot(items, 3, seed=1), few_shot(items, 3, seed=2)
    assert a == b and a != c
    assert sorted(it.label for it in a) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_few_shot_warns_and_uses_all_when_short():
    items = _toy(2, per=2).train
    with pytest.warns(UserWarning, match="fewer than 16"):
        got = few_shot(items, 16, seed=1)
    assert len(got) == 4


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="mini_toys.*OxfordPets"):
        resolve_dataset_names(["CIFAR-10"])
    with pytest.raises(ValueError, match="valid"):
        load_dataset("nope")


def test_missing_data_directory_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_benchmark("OxfordPets", tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "oxford_pets" / "split_zhou_OxfordPets.json") in msg and "DATASETS.md" in msg
    with pytest.raises(FileNotFoundError, match="data root"):
        load_benchmark("DTD", None)


def _img(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path)


def test_coop_split_file_layout(tmp_path):
    folder = tmp_path / "oxford_pets"
    split = {k: [] for k in ("train", "val", "test")}
    for label, cname in enumerate(["abyssinian", "beagle", "pug"]):
        for k in split:
            rel = f"{cname}_{k}_1.jpg"
            _img(folder / "images" / rel)
            split[k].append([rel, label, cname])
    (folder / "split_zhou_OxfordPets.json").write_text(json.dumps(split))
    ds = load_benchmark("OxfordPets", tmp_path)
    assert ds.classnames == ("abyssinian", "beagle", "pug")
    assert ds.template == "a photo of a {}, a type of pet."
    assert len(ds.train) == len(ds.test) == 3
    assert ds.load_image(ds.test[2]).size == (8, 8)


def test_fgvc_aircraft_layout(tmp_path):
    folder = tmp_path / "fgvc_aircraft"
    folder.mkdir()
    (folder / "variants.txt").write_text("707-320\nA300B4\nCessna 172\n")
    for k in ("train", "val", "test"):
        lines = []
        for i, v in enumerate(["707-320", "A300B4", "Cessna 172"]):
            _img(folder / "images" / f"{k}{i}.jpg")
            lines.append(f"{k}{i} {v}")
        (folder / f"images_variant_{k}.txt").write_text("\n".join(lines))
    ds = load_benchmark("FGVCAircraft", tmp_path)
    assert ds.classnames[2] == "Cessna 172" and ds.test[2].label == 2
    ds.load_image(ds.val[0])


def test_imagenet_layout(tmp_path):
    folder = tmp_path / "imagenet"
    (folder).mkdir()
    (folder / "classnames.txt").write_text("n01 tench\nn02 goldfish\n")
    for sub in ("train", "val"):
        for w in ("n01", "n02"):
            for i in range(3):
                _img(folder / "images" / sub / w / f"{i}.JPEG")
    ds = load_benchmark("ImageNet", tmp_path)
    assert ds.classnames == ("tench", "goldfish") and len(ds.test) == 6


def test_torchvision_dtd_layout(tmp_path):
    base = tmp_path / "dtd" / "dtd"
    classes = ["banded", "blotchy", "braided"]
    for k in ("train", "val", "test"):
        lines = []
        for c in classes:
            _img(base / "images" / c / f"{c}_{k}.jpg")
            lines.append(f"{c}/{c}_{k}.jpg")
        (base / "labels").mkdir(parents=True, exist_ok=True)
        (base / "labels" / f"{k}1.txt").write_text("\n".join(lines))
    ds = load_benchmark("DTD", tmp_path)
    assert ds.classnames == tuple(classes) and ds.template == "{} texture."
    assert [it.label for it in ds.test] == [0, 1, 2]
    assert ds.load_image(ds.test[1]).size == (8, 8)


def test_miniature_families_split_into_base_and_novel():
    """Each miniature dataset keeps its own label order: one family of classes is base, the other novel."""
    from dpt.data import MINIATURE_DATASETS, load_miniature
    for name in MINIATURE_DATASETS:
        ds = load_miniature(name, per_class={"train": 1, "val": 1, "test": 1})
        base, novel = subsample_classes(ds, "base"), subsample_classes(ds, "novel")
        assert len(ds.classnames) >= 20
        assert len({c.split()[-1] for c in base.classnames}) == 1
        assert len({c.split()[-1] for c in novel.classnames}) == 1
        assert base.classnames[0].split()[-1] != novel.classnames[0].split()[-1]


def test_control_split_mixes_both_families_in_each_half():
    """mini_paints_random is mini_paints' classes in a random order: base and novel each hold inks and chalks
    in about equal numbers, so the designed shift is gone and only the split differs."""
    from dpt.data import MINIATURE_CONTROLS, load_miniature
    assert MINIATURE_CONTROLS == ("mini_paints_random",)
    ds = load_miniature("mini_paints_random", per_class={"train": 1, "val": 1, "test": 1})
    designed = load_miniature("mini_paints", per_class={"train": 1, "val": 1, "test": 1})
    assert sorted(ds.classnames) == sorted(designed.classnames) and ds.template == designed.template
    for half in ("base", "novel"):
        nouns = [c.split()[-1] for c in subsample_classes(ds, half).classnames]
        assert 4 <= nouns.count("ink") <= 8 and 4 <= nouns.count("chalk") <= 8, (half, nouns)
