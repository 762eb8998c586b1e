import torch
import torch.nn.functional as F

from dpt.augment import classwise_mixup, pixel_mixup


def test_across_class_mixup_pairs_other_classes_and_mixes_targets():
    torch.manual_seed(0)
    x = F.normalize(torch.randn(12, 8), dim=-1)
    y = torch.arange(12) % 3
    m = classwise_mixup(x, y, 3, alpha=1.0, mode="across")
    assert (y[m.partner] != y).all()
    torch.testing.assert_close(m.targets.sum(1), torch.ones(12))
    torch.testing.assert_close(m.features.norm(dim=-1), torch.ones(12))
    i = 0
    expected = F.normalize(m.lam[i] * x[i] + (1 - m.lam[i]) * x[m.partner[i]], dim=0)
    torch.testing.assert_close(m.features[i], expected)
    assert abs(float(m.targets[i, y[i]]) - float(m.lam[i])) < 1e-6


def test_within_class_mixup_keeps_the_label():
    torch.manual_seed(0)
    x, y = torch.randn(8, 4), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    m = classwise_mixup(x, y, 4, mode="within")
    assert (y[m.partner] == y).all() and (m.partner != torch.arange(8)).all()
    torch.testing.assert_close(m.targets, F.one_hot(y, 4).float())


def test_pixel_mixup_shapes():
    imgs, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    m = pixel_mixup(imgs, y, 4)
    assert m.features.shape == imgs.shape and (y[m.partner] != y).all()
