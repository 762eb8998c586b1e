import numpy as np
import pytest

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


@pytest.mark.slow
def test_caption_vocabulary_is_every_word_pretraining_uses():
    from dpt.data.world import BACKGROUNDS, COLOURS, SHADES, SHAPES, SIZES, caption_vocabulary
    vocab = caption_vocabulary()
    for words in (COLOURS, SHAPES, SHADES, SIZES, BACKGROUNDS):
        assert set(words) - {"plain"} <= set(vocab)  # "plain" is never said: a plain object is just "a red star"
    assert "balloon" not in vocab and "ink" not in vocab  # downstream class nouns are not pretraining words
    assert caption_vocabulary(n=8000, seed=1) == vocab    # 4,000 captions already hold every word


def test_nearest_words_searches_only_the_given_vocabulary(miniclip):
    import torch
    from dpt.errors import BadInput
    from dpt.prompts import SoftPromptLearner
    learner = SoftPromptLearner(miniclip, ["red balloon", "blue bead"], init="a photo of a")
    words = learner.nearest_words(2, vocabulary=["dark", "photo", "of", "a", "star"])
    assert [w[0] for w in words] == ["a", "photo", "of", "a"]      # initialised on the template's own words
    assert all(set(w) <= {"dark", "photo", "of", "a", "star"} for w in words)
    with torch.no_grad():
        learner.ctx[0, 0] = learner.text_encoder.token_embedding.weight[miniclip.tokenizer.encode("dark")[0]]
    assert learner.nearest_words(1, vocabulary=["dark", "photo", "star"])[0] == ["dark"]
    with pytest.raises(BadInput, match="fewer than k"):
        learner.nearest_words(3, vocabulary=["dark"])
