import pytest
import torch

from dpt import features as F
from dpt.data import load_miniature
from dpt.data.dataset import subsample_classes


@pytest.fixture
def small():
    return subsample_classes(load_miniature("mini_toys", per_class={"train": 2, "val": 1, "test": 1}), "base")


def test_cache_hit_and_changed_key_recomputes(mini_random, small, tmp_path, monkeypatch):
    calls = []
    real = F._encode
    monkeypatch.setattr(F, "_encode", lambda *a, **k: calls.append(1) or real(*a, **k))
    a = F.image_features(mini_random, small, "train", cache_dir=tmp_path, progress=False)
    b = F.image_features(mini_random, small, "train", cache_dir=tmp_path, progress=False)
    assert len(calls) == 1 and torch.equal(a.features, b.features)
    assert a.features.shape == (2 * small.num_classes, mini_random.embed_dim)
    F.image_features(mini_random, small, "val", cache_dir=tmp_path, progress=False)  # another split
    F.image_features(mini_random, small, "train", views=2, cache_dir=tmp_path, progress=False)  # augmented views
    assert len(calls) == 1 + 1 + 2
    with torch.no_grad():  # other weights -> other key
        mini_random.model.visual.proj.mul_(1.0001)
    try:
        F.image_features(mini_random, small, "train", cache_dir=tmp_path, progress=False)
    finally:
        with torch.no_grad():
            mini_random.model.visual.proj.div_(1.0001)
    assert len(calls) == 5


def test_half_written_file_is_never_read(mini_random, small, tmp_path, monkeypatch):
    real_save = torch.save

    def crash(obj, f, *a, **k):  # write half a file, then die
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        F.image_features(mini_random, small, "train", cache_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the final file nor the temp file remains
    monkeypatch.setattr(torch, "save", real_save)
    ok = F.image_features(mini_random, small, "train", cache_dir=tmp_path, progress=False)
    assert torch.isfinite(ok.features).all() and len(list(tmp_path.glob("*.pt"))) == 1
