import numpy as np

from dpt.data import MINIATURE_DATASETS, load_miniature, subsample_classes
from dpt.data.world import SceneSampler, caption, render


def test_rendering_is_deterministic():
    a = render(SceneSampler().sample(np.random.default_rng(5)))
    b = render(SceneSampler().sample(np.random.default_rng(5)))
    c = render(SceneSampler().sample(np.random.default_rng(6)))
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    assert a.size == (48, 48)


def test_miniature_datasets_have_the_benchmark_shape():
    assert len(MINIATURE_DATASETS) >= 3
    vocabularies = set()
    for name in MINIATURE_DATASETS:
        ds = load_miniature(name)
        assert ds.num_classes >= 20 and len(set(ds.classnames)) == ds.num_classes
        assert len(ds.train) and len(ds.val) and len(ds.test)
        assert "{}" in ds.template
        assert subsample_classes(ds, "novel").num_classes >= 10
        img = ds.load_image(ds.test[0])
        assert np.array_equal(np.asarray(img), np.asarray(ds.load_image(ds.test[0])))
        vocabularies.add(ds.classnames)
    assert len(vocabularies) == len(MINIATURE_DATASETS)


def test_captions_vary_and_name_the_style():
    rng = np.random.default_rng(0)
    scene = SceneSampler(styles=("sketch",)).sample(rng)
    caps = {caption(scene, rng) for _ in range(50)}
    assert len(caps) > 10
    assert any(w in c for c in caps for w in ("sketch", "drawing", "outline"))
