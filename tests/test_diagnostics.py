"""The miniature's diagnostics (dpt.experiments.diagnostics): the dataset transforms they rest on, and what one
diagnosis holds."""
import numpy as np
import pytest

from dpt.data import load_dataset, subsample_classes
from dpt.data.miniature import restyled
from dpt.experiments.diagnostics import diagnose, linear_probe, shuffled_classes


def test_a_random_split_keeps_each_image_with_its_class_name():
    ds = load_dataset("mini_paints")
    mixed = shuffled_classes(ds, 1)
    assert mixed.name == ds.name  # the same images: their cached features are reused
    assert sorted(mixed.classnames) == sorted(ds.classnames) and mixed.classnames != ds.classnames
    for old, new in zip(ds.train + ds.test, mixed.train + mixed.test):
        assert old.source == new.source and ds.classnames[old.label] == mixed.classnames[new.label]
    assert shuffled_classes(ds, 1).classnames == mixed.classnames != shuffled_classes(ds, 2).classnames
    # the designed split puts one family in each half; a random one mixes them
    nouns = {c.split()[-1] for c in subsample_classes(mixed, "base").classnames}
    assert nouns == {"ink", "chalk"}


def test_a_restyled_dataset_draws_the_same_scenes_in_another_rendering():
    ds = load_dataset("mini_stamps")  # pixel art
    photo = restyled("mini_stamps", "photo")
    assert photo.name == "mini_stamps@photo" and photo.classnames == ds.classnames and photo.meta != ds.meta
    assert restyled("mini_toys").meta == load_dataset("mini_toys").meta  # drawn as photos already
    a, b = (np.asarray(d.load_image(d.test[0])) for d in (ds, photo))
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert np.array_equal(np.asarray(restyled("mini_stamps", "pixel").load_image(ds.test[0])), a)
    with pytest.raises(Exception, match="not a miniature dataset"):
        restyled("DTD")


def test_the_probe_starts_at_the_zero_shot_classifier_of_the_base_classes(miniclip):
    """With no step the probe is zero-shot on the base classes' test images (its split and classes are right); the
    steps val chooses can only be one of those it measured, 0 included."""
    from dpt.run import RunConfig, base_to_novel
    ds = load_dataset("mini_toys")
    zero_shot_base = base_to_novel(miniclip, ds, RunConfig("zeroshot"), progress=False)["base"]
    assert linear_probe(miniclip, ds, steps=0) == pytest.approx(zero_shot_base, abs=0.01)
    assert linear_probe(miniclip, ds, steps=100) >= zero_shot_base - 10  # val picks 0 steps where training hurts


@pytest.mark.slow
@pytest.mark.parametrize("name, photos", [("mini_toys", True), ("mini_stamps", False)])
def test_a_diagnosis_compares_each_property_with_its_bar(miniclip, name, photos):
    from dpt.experiments.profiles import get_profile
    from dpt.run import RunConfig, base_to_novel
    probe = linear_probe(miniclip, load_dataset(name), seed=1)
    for zs_base, holds in ((probe - 10.5, True), (probe - 9.5, False)):
        rows = {"zeroshot": {"base": zs_base, "novel": 60.0}, "maple": {"base": 50.0, "novel": 58.5}}
        d = diagnose(miniclip, get_profile("miniature"), name, rows, seeds=(1,))
        assert d["headroom"]["holds"] is holds and d["headroom"]["linear_probe_base"] == pytest.approx(probe, abs=0.01)
    domain = d["shared_domain"]
    assert domain["drawn_as_main_rendering"] is photos and domain["maple_novel_minus_zero_shot"] == -1.5
    assert (domain["zero_shot_here"] == domain["zero_shot_as_photo"]) is photos and not domain["holds"] or not photos
    # the names diagnosis: CoOp and zero-shot on the same random split, as the library scores them
    mixed = shuffled_classes(load_dataset(name), 1)
    novel = {m: base_to_novel(miniclip, mixed, get_profile("miniature").run_config(m, 1), progress=False)["novel"]
             for m in ("zeroshot", "coop")}
    assert d["idiosyncratic_names"]["coop_novel_minus_zero_shot_on_random_split"] == pytest.approx(
        novel["coop"] - novel["zeroshot"], abs=0.01)
    assert d["idiosyncratic_names"]["holds"] is (novel["coop"] - novel["zeroshot"] <= -3)
