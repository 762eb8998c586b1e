"""The course's exercises: the learner writes a function, a check compares it with the library.

In a notebook the exercise cell holds a stub whose body is `todo()`; its check cell reports *not done yet* until
the learner replaces it, so *Run all* (and CI) passes on an untouched notebook, while a wrong answer fails its
check with what differs. The solutions live in notebooks/exercise_solutions.py, and tests/test_exercises.py runs
every check on them (and on a wrong answer), so a check that cannot fail is caught there, not by *Run all*.
"""
from __future__ import annotations

import math


def todo():
    """The body of an exercise's stub: replace this call by your code."""
    raise NotImplementedError("not done yet")


def check(name: str, test):
    """Run `test` (a zero-argument callable that raises AssertionError on a wrong answer and returns what to say on
    a right one). A stub still calling todo() is reported as not done yet, without failing the notebook."""
    from IPython.display import Markdown
    try:
        said = test()
    except NotImplementedError:
        return Markdown(f"**Not done yet:** `{name}` still calls `todo()`. Write it in the cell above, run that "
                        "cell, then this one. (A solution is in `exercise_solutions.py`, next to the notebooks.)")
    return Markdown(f"**Correct.** {said}")


def template_ensemble(my_ensemble, bb, classnames) -> str:
    """Notebook 01: my_ensemble(bb, classnames, templates) equals dpt.prompts.hand_crafted_features."""
    import torch
    from ..prompts import ENSEMBLE_TEMPLATES, hand_crafted_features
    theirs = hand_crafted_features(bb, classnames, ENSEMBLE_TEMPLATES)
    mine = my_ensemble(bb, classnames, ENSEMBLE_TEMPLATES)
    assert tuple(mine.shape) == tuple(theirs.shape), f"shape {tuple(mine.shape)}, expected {tuple(theirs.shape)}"
    torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=0)
    return f"Your ensemble of {len(ENSEMBLE_TEMPLATES)} templates equals the library's."


def coop_numbers(my_count, bb, classnames) -> str:
    """Notebook 02: my_count(n_ctx, width, n_classes, class_specific) is CoOp's number of learned scalars."""
    from ..methods import MethodConfig, build_method
    said = []
    for cs in (False, True):
        m = build_method("coop", bb, classnames, "a photo of a {}.", MethodConfig(class_specific=cs))
        n = sum(p.numel() for p in m.parameters() if p.requires_grad)
        got = my_count(MethodConfig().n_ctx, bb.text_encoder.width, len(classnames), cs)
        assert got == n, f"class_specific={cs}: your count differs from the number the library's CoOp learns"
        said.append(f"class_specific={cs}: {n:,}")
    return "Learned numbers, " + "; ".join(said) + "."


def infonce(my_infonce) -> str:
    """Notebook 03: my_infonce(S) equals dpt.mi.InfoNCE's bound, and a perfect critic reaches log N, no more."""
    import torch
    from ..mi import DotCritic, InfoNCE
    S = 3 * torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.as_tensor(my_infonce(S), dtype=S.dtype), InfoNCE(DotCritic(2, 2)).bound(S)[0])
    perfect = float(my_infonce(1e3 * torch.eye(64)))
    assert abs(perfect - math.log(64)) < 1e-3, f"a perfect critic gives {perfect:.3f}, expected log 64"
    return f"Equal to the library; a perfect critic reaches log 64 = {math.log(64):.3f} nats and no more."


def mixup_targets(my_targets, x, y, n_classes: int) -> str:
    """Notebook 04: my_targets(labels, partner, lam, n_classes) are the soft targets classwise_mixup trains on."""
    import torch
    from ..augment import classwise_mixup
    m = classwise_mixup(x, y, n_classes, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(my_targets(y, m.partner, m.lam, n_classes), m.targets)
    return f"Your targets equal the library's for all {len(y)} mixed samples."


def kgcoop_term(my_kg, paper_weight, method, x, y) -> str:
    """Notebook 05: my_kg(soft, hand) is the term KgCoOp's code weights (1 - mean cos), and paper_weight(lam) is
    the weight on (1 - cos) that the paper's lam * mean squared distance amounts to for unit vectors."""
    import torch
    from ..methods import MethodConfig
    with torch.no_grad():
        soft, hand = method.soft_features(), method.hand
        torch.testing.assert_close(torch.as_tensor(my_kg(soft, hand)), method.loss(x, y)[1]["kg"].detach())
        distance = ((soft - hand) ** 2).sum(-1).mean()
    w = MethodConfig().kg_weight
    assert math.isclose(paper_weight(w) * float(my_kg(soft, hand)), w * float(distance), rel_tol=1e-4), \
        f"paper_weight({w:g}) = {paper_weight(w)}: lam * distance is not that weight times (1 - cos)"
    return (f"Your term equals the library's. KgCoOp's code adds {w:g} · (1 − cos); the paper's formula with "
            f"λ = {w:g} on the squared distance would weight (1 − cos) by {paper_weight(w):g}, a factor "
            f"{paper_weight(w) / w:g} apart.")


def _per_dataset(rows, label, key, seed=None):
    import statistics as st
    mine = [r for r in rows if r["label"] == label and (seed is None or r["seed"] == seed)]
    return [st.fmean(r[key] for r in mine if r["dataset"] == d) for d in sorted({r["dataset"] for r in mine})]


def hm_of_averages(hm_of_average, average_of_hm, rows, labels) -> str:
    """Notebook 06: the HM of the averaged base and novel accuracies, against the average of per-dataset HMs."""
    import statistics as st
    from .summary import summarise
    table = {s["label"]: s["hm"] for s in summarise(rows, intervals=False) if s["dataset"] == "average"}
    gaps = {}
    for m in labels:
        assert abs(hm_of_average(rows, m) - table[m]) < 1e-6, f"{m}: hm_of_average differs from the table's average row"
        expected = st.fmean(_per_dataset(rows, m, "hm"))
        assert abs(average_of_hm(rows, m) - expected) < 1e-6, f"{m}: average_of_hm differs from the library's"
        gaps[m] = round(hm_of_average(rows, m) - average_of_hm(rows, m), 2)
    assert all(g >= -1e-9 for g in gaps.values())
    return ("Both equal the library's. HM of the averages minus average of the HMs, per method: "
            + ", ".join(f"{m} {g:+.2f}" for m, g in gaps.items()) + ".")


def best_weight_per_seed(my_best, rows, sweep: dict) -> str:
    """Notebook 07: for each seed, the MI weight of `sweep` (weight -> tag) with the highest HM of the dataset-averaged
    base and novel accuracy."""
    import statistics as st
    expected, margin = {}, {}
    for s in sorted({r["seed"] for r in rows}):
        hm = {}
        for w, tag in sweep.items():
            b, n = st.fmean(_per_dataset(rows, tag, "base", s)), st.fmean(_per_dataset(rows, tag, "novel", s))
            hm[w] = 2 * b * n / (b + n)
        first, second = sorted(hm, key=hm.get, reverse=True)[:2]
        expected[s], margin[s] = first, (second, hm[first] - hm[second])
    got = my_best(rows, sweep)
    wrong = [s for s in expected if got.get(s) != expected[s]]
    assert not wrong, f"you found {got}: wrong for seed(s) {wrong}"
    return (f"Best MI weight per seed: {got}. Its lead over the runner-up, in val HM points: "
            + "; ".join(f"seed {s}: {m:.2f} over {w:g}" for s, (w, m) in margin.items()) + ".")
