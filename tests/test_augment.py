import torch
import torch.nn.functional as F

from dpt.augment import classwise_mixup


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


def test_generator_alone_decides_partners_and_lambdas():
    x, y = F.normalize(torch.randn(10, 8), dim=-1), torch.arange(10) % 3
    draws = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)  # the global RNG must not matter when a generator is given
        m = classwise_mixup(x, y, 3, generator=torch.Generator().manual_seed(7))
        draws.append((m.partner, m.lam))
    torch.testing.assert_close(draws[0][0], draws[1][0])
    torch.testing.assert_close(draws[0][1], draws[1][1])


def test_across_with_one_class_falls_back_to_same_class_pairs():
    x, y = F.normalize(torch.randn(4, 8), dim=-1), torch.zeros(4, dtype=torch.long)
    m = classwise_mixup(x, y, 2, mode="across", generator=torch.Generator().manual_seed(0))
    assert (m.partner != torch.arange(4)).all()
    torch.testing.assert_close(m.targets, F.one_hot(y, 2).float())
