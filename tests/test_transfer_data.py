"""ImageNet's four test-only variants in CoOp's layout (on fixture trees) and the miniature's domains."""
import pytest

from dpt.data import MINIATURE_DOMAINS, MINIATURE_SOURCE, load_dataset, load_miniature
from dpt.experiments.datasets import resolve_dataset_names
from dpt.experiments.datasets import load_benchmark

WNIDS = {"n01440764": "tench", "n01443537": "goldfish", "n01484850": "great white shark",
         "n01491361": "tiger shark", "n01494475": "hammerhead shark"}


def _img(path, colour=(10, 200, 10)):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


def _classnames(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "classnames.txt").write_text("".join(f"{w} {n}\n" for w, n in WNIDS.items()))


def test_imagenet_v2_label_folders_are_imagenet_labels(tmp_path):
    folder = tmp_path / "imagenetv2"
    _classnames(folder)
    for label, n in ((0, 2), (3, 1), (4, 2)):  # label 1 and 2 hold no images
        for i in range(n):
            _img(folder / "imagenetv2-matched-frequency-format-val" / str(label) / f"{i}.jpeg")
    ds = load_benchmark("ImageNetV2", tmp_path)
    assert ds.classnames == tuple(WNIDS.values())  # all of ImageNet's classes, in its order
    assert [it.label for it in ds.test] == [0, 0, 3, 4, 4]
    assert ds.train == ds.val == () and ds.template == "a photo of a {}."
    assert ds.load_image(ds.test[2]).size == (8, 8)


def test_imagenet_sketch_wnid_folders(tmp_path):
    folder = tmp_path / "imagenet-sketch"
    _classnames(folder)
    for w in WNIDS:
        _img(folder / "images" / w / "sketch_1.JPEG")
    ds = load_benchmark("ImageNetSketch", tmp_path)
    assert ds.classnames == tuple(WNIDS.values())
    assert [it.label for it in ds.test] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("name,coop_dir,image_dir", [("ImageNetA", "imagenet-adversarial", "imagenet-a"),
                                                     ("ImageNetR", "imagenet-rendition", "imagenet-r")])
def test_class_subset_maps_to_imagenet_names(tmp_path, name, coop_dir, image_dir):
    """-A and -R hold a subset of ImageNet's classes: labels run 0..K-1 over their folders (sorted wnids),
    each named through ImageNet's classnames.txt; README.txt beside the folders is ignored."""
    folder = tmp_path / coop_dir
    _classnames(folder)
    subset = ["n01494475", "n01443537"]  # unsorted on purpose: the hammerhead (4) and the goldfish (1)
    for w in subset:
        for i in range(2):
            _img(folder / image_dir / w / f"{i}.jpg")
    (folder / image_dir / "README.txt").write_text("not a class")
    ds = load_benchmark(name, tmp_path)
    assert ds.classnames == ("goldfish", "hammerhead shark")
    assert sorted({it.label for it in ds.test}) == [0, 1]
    goldfish = [it for it in ds.test if it.label == 0]
    assert all("n01443537" in it.source for it in goldfish) and len(goldfish) == 2


def test_variant_folder_not_in_classnames_is_refused(tmp_path):
    folder = tmp_path / "imagenet-rendition"
    _classnames(folder)
    _img(folder / "imagenet-r" / "n99999999" / "0.jpg")
    with pytest.raises(ValueError, match="n99999999.*classnames.txt"):
        load_benchmark("ImageNetR", tmp_path)


@pytest.mark.parametrize("name,expect", [("ImageNetV2", "imagenetv2-matched-frequency-format-val"),
                                         ("ImageNetSketch", "imagenet-sketch"),
                                         ("ImageNetA", "imagenet-adversarial"),
                                         ("ImageNetR", "imagenet-rendition")])
def test_missing_variant_says_where_and_what(tmp_path, name, expect):
    with pytest.raises(FileNotFoundError) as e:
        load_dataset(name, root=tmp_path)
    assert expect in str(e.value) and "DATASETS.md" in str(e.value) and "classnames.txt" in str(e.value)


def test_aliases_expand():
    assert resolve_dataset_names(["imagenet-variants"]) == ["ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR"]
    assert resolve_dataset_names(["miniature-domains"]) == list(MINIATURE_DOMAINS)
    assert MINIATURE_SOURCE not in resolve_dataset_names(["miniature"])


def test_miniature_domains_share_the_source_classes_and_change_the_pictures():
    """The domain targets are the source's classes (-A and -R: a subset) rendered another way."""
    from dpt.data.miniature import MINIATURE_SPECS, scene_for
    src = load_miniature(MINIATURE_SOURCE, per_class={"train": 1, "val": 1, "test": 2})
    for name in MINIATURE_DOMAINS:
        ds = load_miniature(name, per_class={"train": 1, "val": 1, "test": 2})
        assert set(ds.classnames) <= set(src.classnames) and ds.template == src.template
        spec = MINIATURE_SPECS[name]
        scenes = [scene_for(spec, "test", it.source[2], it.source[3]) for it in ds.test]
        assert all(s.main.colour == ds.classnames[it.label] for s, it in zip(scenes, ds.test))
    assert len(load_miniature("mini_colours_a").classnames) < len(src.classnames)
    styles = {n: {scene_for(MINIATURE_SPECS[n], "test", i, "orange").style for i in range(20)}
              for n in ("mini_colours", "mini_colours_sketch", "mini_colours_r")}
    assert styles == {"mini_colours": {"photo"}, "mini_colours_sketch": {"sketch"}, "mini_colours_r": {"pixel"}}
