"""The course's exercises: the learner writes a function, a check compares it with the library.

In a notebook the exercise cell holds a stub whose body is `todo()`; its check cell reports *not done yet* until
the learner replaces it, so *Run all* (and CI) passes on an untouched notebook, while a wrong answer fails its
check with what differs. The solutions live in notebooks/exercise_solutions.py, and tests/test_exercises.py runs
every check on them (and on a wrong answer), so a check that cannot fail is caught there, not by *Run all*.
"""
from __future__ import annotations

import math


class _Todo:
    """What `todo()` gives at a notebook cell's top level (`prediction = todo()`): a placeholder that every check
    reads as *not done yet* (`given`)."""

    def __repr__(self):
        return "todo()"


TODO = _Todo()


def todo():
    """The body of an exercise's stub: replace this call by your code. Inside a function it raises (the check
    reports *not done yet*); at a cell's top level (`prediction = todo()`, `epochs = todo()`) it returns the
    placeholder TODO, so the cell runs and the check that reads the value reports *not done yet*."""
    import sys
    if sys._getframe(1).f_code.co_name == "<module>":
        return TODO
    raise NotImplementedError("not done yet")


def given(*values):
    """`values`, or NotImplementedError (*not done yet*) while any of them (or any value of a dict among them) is
    still todo()'s placeholder."""
    for v in values:
        if v is TODO or (isinstance(v, dict) and any(x is TODO for x in v.values())):
            raise NotImplementedError("not done yet")
    return values


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


# 00 · check your understanding: which of two prompts has the higher harmonic mean?
def higher_hm(answer, a: dict, b: dict) -> str:
    """Notebook 00: answer 'A' or 'B', the prompt (a, b: {'base', 'novel'}) with the higher HM = 2BN/(B+N)."""
    given(answer)
    said = str(answer).strip().upper()
    assert said in ("A", "B"), f"answer is {answer!r}: write 'A' or 'B'"
    hm = {k: 2 * r["base"] * r["novel"] / (r["base"] + r["novel"]) for k, r in (("A", a), ("B", b))}
    mean = {k: (r["base"] + r["novel"]) / 2 for k, r in (("A", a), ("B", b))}
    best = max(hm, key=hm.get)
    assert said == best, (f"HM of A {hm['A']:.1f}, of B {hm['B']:.1f}: {best} is higher, though the plain mean says "
                          f"{max(mean, key=mean.get)} ({mean['A']:.1f} against {mean['B']:.1f}). HM sits near the smaller of the two")
    return (f"HM of A {hm['A']:.1f}, of B {hm['B']:.1f}; the plain means are {mean['A']:.1f} and {mean['B']:.1f}. "
            "HM sits near the smaller accuracy, so a prompt that gives up the novel classes cannot buy HM back with base.")


def template_ensemble(my_ensemble, bb, classnames) -> str:
    """Notebook 01: my_ensemble(bb, classnames, templates) equals dpt.prompts.hand_crafted_features."""
    import torch
    from ..prompts import ENSEMBLE_TEMPLATES, hand_crafted_features
    theirs = hand_crafted_features(bb, classnames, ENSEMBLE_TEMPLATES)
    mine = my_ensemble(bb, classnames, ENSEMBLE_TEMPLATES)
    assert tuple(mine.shape) == tuple(theirs.shape), f"shape {tuple(mine.shape)}, expected {tuple(theirs.shape)}"
    # 01 · say what differs (direction or length), not how to compute it
    mine = mine.detach().float()
    cos = torch.nn.functional.cosine_similarity(mine, theirs, dim=-1)
    assert bool((cos > 1 - 1e-5).all()), (f"some rows point elsewhere than the library's (cosine down to "
                                         f"{float(cos.min()):.3f}): does every template count equally?")
    norms = mine.norm(dim=-1)
    assert bool(((norms - 1).abs() < 1e-4).all()), (f"the directions are right, but the rows' lengths run from "
                                                    f"{float(norms.min()):.3f} to {float(norms.max()):.3f}: what length does "
                                                    "every CLIP feature in the logit formula have?")
    torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=0)
    return f"Your ensemble of {len(ENSEMBLE_TEMPLATES)} templates equals the library's."


# 01 · predict: a template ensemble against the dataset's own template
def _direction(prediction, key) -> str:
    said = str(prediction.get(key, "") if isinstance(prediction, dict) else "").strip().lower()
    assert said in ("higher", "lower"), f"prediction[{key!r}] is {prediction.get(key) if isinstance(prediction, dict) else prediction!r}: write 'higher' or 'lower'"
    return said


def ensemble_prediction(prediction, single: dict, ensemble: dict) -> str:
    """Notebook 01: prediction {'base': 'higher' or 'lower', 'novel': ...}, the template ensemble's accuracy against
    the dataset's own template's (single), compared with what was measured (both dicts of 'base' and 'novel')."""
    given(prediction)
    said = []
    for k in ("base", "novel"):
        guess, actual = _direction(prediction, k), "higher" if ensemble[k] > single[k] else "lower"
        assert guess == actual, (f"{k} classes: you predicted {guess}, the ensemble is {actual} ({single[k]:.1f} with the "
                                 f"dataset's template, {ensemble[k]:.1f} with the ensemble). Look at the rows of the "
                                 "table above that move each half most: the ensemble averages them in.")
        said.append(f"{k} {single[k]:.1f} → {ensemble[k]:.1f}")
    return "As you predicted: " + ", ".join(said) + "."


# 02 · CoCoOp's meta-net: how many numbers does it learn?
def meta_net_numbers(my_count, bb, classnames, prediction=None, n_ctx: int = 4) -> str:
    """Notebook 02: my_count(d, d_tok, ratio) is the number of learned scalars of CoCoOp's meta-net (Linear d -> d//ratio,
    ReLU, Linear d//ratio -> d_tok), checked against the library's CoCoOp at two bottleneck ratios; with `prediction`
    ('more' or 'fewer'), first whether the default meta-net (ratio 16) has more numbers than CoOp's n_ctx context vectors."""
    from ..methods import MethodConfig, build_method
    said = []
    if prediction is not None:  # 02 · the learner's prediction, checked before the count
        given(prediction)
        guess = str(prediction).strip().lower()
        assert guess in ("more", "fewer"), f"prediction is {prediction!r}: write 'more' or 'fewer'"
        m = build_method("cocoop", bb, classnames, "a photo of a {}.", MethodConfig())
        meta, ctx = sum(p.numel() for p in m.meta_net.parameters()), n_ctx * bb.text_encoder.width
        actual = "more" if meta > ctx else "fewer"
        assert guess == actual, (f"you predicted {guess}: the meta-net has {meta:,} numbers, CoOp's context {ctx:,}")
        said.append(f"{actual} than CoOp's context ({meta:,} against {ctx:,}), as you predicted")
    for ratio in (16, 8):
        m = build_method("cocoop", bb, classnames, "a photo of a {}.", MethodConfig(meta_hidden_ratio=ratio))
        n = sum(p.numel() for p in m.meta_net.parameters() if p.requires_grad)
        got = my_count(bb.embed_dim, bb.text_encoder.width, ratio)
        assert got == n, (f"ratio {ratio}: you count {got}, the library's meta-net has a different number (each "
                          "Linear layer has a weight matrix and a bias)")
        said.append(f"ratio {ratio}: {n:,}")
    return "The meta-net learns " + "; ".join(said[-2:]) + " numbers" + (f": {said[0]}." if len(said) > 2 else ".")


# 02 · predict, then train: CoOp for fewer epochs
def fewer_epochs(prediction, epochs, train, reference: dict) -> str:
    """Notebook 02: prediction {'base': 'higher' or 'lower', 'novel': ...}, how CoOp's base and novel accuracy move
    when it trains for `epochs` (2 to 10: one warm-up epoch, then at least one at the full rate) instead of the schedule of `reference` (its row: 'base', 'novel'); train(epochs)
    trains it and returns its row."""
    given(prediction, epochs)
    assert isinstance(epochs, int) and 2 <= epochs <= 10, f"epochs is {epochs!r}: choose a whole number from 2 to 10"
    guesses = {k: _direction(prediction, k) for k in ("base", "novel")}
    row = train(epochs)
    said = []
    for k in ("base", "novel"):
        actual = "higher" if row[k] > reference[k] else "lower"
        assert guesses[k] == actual, (f"{k} classes: you predicted {guesses[k]}, it came out {actual} "
                                      f"({reference[k]:.1f} with the full schedule, {row[k]:.1f} after {epochs} epochs)")
        said.append(f"{k} {reference[k]:.1f} → {row[k]:.1f}")
    return f"As you predicted, after {epochs} epochs: " + ", ".join(said) + "."


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


# 06-08 · predict, then train: the learner changes one setting and predicts which way each accuracy moves against
# the run at the default setting; the check trains it (through the notebook's own call of the library) and compares.
def predicted_change(my_prediction, train, reference: dict, allowed, tol: float = 1.0) -> str:
    """Notebooks 06-08: my_prediction() -> (value, {metric: 'up' or 'down'}) for every metric of `reference` (the
    run at the default setting); allowed(value) -> None, or why that value is refused; train(value) -> the new run's
    {metric: accuracy}. Each predicted direction must match the measured one; a change under `tol` points is
    within the noise of one run, and either answer counts as right there."""
    value, guess = my_prediction()
    why = allowed(value)
    assert why is None, why
    metrics = list(reference)
    assert isinstance(guess, dict) and set(guess) == set(metrics) and all(g in ("up", "down") for g in guess.values()), \
        f"predict a dict {{{', '.join(repr(m) + ': ' + repr('up') + ' or ' + repr('down') for m in metrics)}}}"
    row = train(value)
    moved = {m: row[m] - reference[m] for m in metrics}
    said = "; ".join(f"{m} {reference[m]:.1f} → {row[m]:.1f} ({moved[m]:+.1f})" for m in metrics)
    wrong = [m for m in metrics if abs(moved[m]) >= tol and guess[m] != ("up" if moved[m] > 0 else "down")]
    assert not wrong, (f"measured: {said}. Your prediction for {' and '.join(wrong)} went the other way: which part "
                       "of the loss did you expect to win, and what did it do instead?")
    return f"Your prediction matches the run: {said} (a change under {tol:g} point counts either way)."


# 03-05 · predict, then train, then check; and 03's one-to-one re-mapping of the hand-crafted view
DIRECTIONS = ("up", "down", "same")


def direction(before: float, after: float, tolerance: float) -> str:
    """'up', 'down' or 'same' (a change no larger than `tolerance`) from `before` to `after`."""
    from .claims import compare_word
    return {"above": "up", "below": "down", "level with": "same"}[compare_word(after, before, tolerance)]


def prediction(my_prediction, measured: dict, tolerance: dict, change: str) -> str:
    """Notebooks 03, 04, 05: my_prediction() returns {quantity: 'up' | 'down' | 'same'} for each quantity of
    `measured` ({quantity: (before, after)}), as `change` moves it; a change within tolerance[quantity] is 'same'."""
    said = my_prediction()
    assert isinstance(said, dict) and set(said) == set(measured), \
        f"return a dict with the keys {sorted(measured)}, each 'up', 'down' or 'same'; got {said!r}"
    bad = {k: v for k, v in said.items() if v not in DIRECTIONS}
    assert not bad, f"each value is 'up', 'down' or 'same'; got {bad}"
    seen = {k: direction(*measured[k], tolerance[k]) for k in measured}
    report = "; ".join(f"{k} {measured[k][0]:.3g} → {measured[k][1]:.3g} ({seen[k]})" for k in measured)
    wrong = [k for k in measured if said[k] != seen[k]]
    assert not wrong, (f"{change}: you predicted " + ", ".join(f"{k} {said[k]}" for k in wrong)
                       + f", the runs show {report}. Why? The notebook's next cell discusses it.")
    return f"{change}: {report}, as you predicted."


def one_to_one_remap(my_remap, hand, steps: int = 300) -> str:
    """Notebook 03: my_remap(hand) gives, for every class, a feature orthogonal to its own hand-crafted one (each
    cosine within 0.05 of zero: -hand, at cosine -1, is refused) that a separable critic still pairs one-to-one
    with them (its InfoNCE estimate within 0.3 nats of log C)."""
    import torch
    from ..mi import DotCritic, InfoNCE, make_estimator
    with torch.no_grad():
        far = torch.as_tensor(my_remap(hand.clone()), dtype=hand.dtype)
    assert tuple(far.shape) == tuple(hand.shape), f"shape {tuple(far.shape)}, expected {tuple(hand.shape)}"
    far = torch.nn.functional.normalize(far, dim=-1)
    per_class = (far * hand).sum(-1)
    cos, worst = float(per_class.mean()), int(per_class.abs().argmax())
    assert float(per_class[worst].abs()) < 0.05, (
        f"class {worst}: cosine {float(per_class[worst]):.2f} with its own hand-crafted feature; every cosine must be "
        "near 0 (within 0.05): orthogonal, not opposite (a cosine of -1 is as tied to the class as +1)")
    gen = torch.random.get_rng_state()
    torch.manual_seed(0)
    est = make_estimator("infonce", far.shape[1], hand.shape[1], critic="separable")
    opt = torch.optim.Adam(est.parameters(), lr=1e-3)
    for _ in range(steps):
        obj, _ = est(far, hand)
        opt.zero_grad()
        (-obj).backward()
        opt.step()
    torch.random.set_rng_state(gen)
    with torch.no_grad():
        separable = float(est(far, hand)[1])
        critic = DotCritic(far.shape[1], hand.shape[1])
        dot = float(InfoNCE(critic).bound(critic(far, hand))[1])
    ceiling = math.log(len(hand))
    assert separable > ceiling - 0.3, (f"the separable critic reads {separable:.2f} nats (log C = {ceiling:.2f}): "
                                       "your map loses which feature belongs to which class; keep it one-to-one")
    return (f"every cosine near 0 (mean {cos:.2f}), yet the separable critic reads {separable:.2f} nats "
            f"(log C = {ceiling:.2f}): the pairing is intact. The dot critic reads {dot:.2f} nats: it sees that the views moved apart.")


# 06-08 · a prediction written before the answer is shown: which average is larger (06), whether one MI weight wins
# in every seed (07), where the photographs' prompt beats zero-shot (08)
def hm_prediction(prediction, hm_of_average, average_of_hm, rows, labels) -> str:
    """Notebook 06: prediction is 'hm of averages', 'average of hms' or 'equal' (which is larger); then the two
    functions are checked (hm_of_averages) and the prediction against what they give."""
    given(prediction)
    choices = ("hm of averages", "average of hms", "equal")
    assert prediction in choices, f"hm_prediction is {prediction!r}: write one of {', '.join(map(repr, choices))}"
    said = hm_of_averages(hm_of_average, average_of_hm, rows, labels)
    gaps = [hm_of_average(rows, m) - average_of_hm(rows, m) for m in labels]
    actual = "equal" if all(abs(g) < 5e-3 for g in gaps) else "hm of averages" if min(gaps) >= -1e-9 else "average of hms"
    assert prediction == actual, f"you predicted {prediction!r}, the rows give {actual!r}. {said}"
    return f"As you predicted, {actual!r} is larger. {said}"


def same_weight_every_seed(prediction, my_best, rows, sweep: dict) -> str:
    """Notebook 07: prediction True (one MI weight has the best validation HM in every seed) or False; then
    my_best is checked (best_weight_per_seed) and the prediction against what it finds."""
    given(prediction)
    assert prediction in (True, False), f"same_weight_prediction is {prediction!r}: write True or False"
    said = best_weight_per_seed(my_best, rows, sweep)
    actual = len(set(my_best(rows, sweep).values())) == 1
    assert prediction == actual, f"you predicted {prediction}, the rows say {actual}. {said}"
    return f"As you predicted ({actual}). {said}"


def transfer_guess(guess, gain: dict) -> str:
    """Notebook 08: guess {target: 'up', 'down' or 'level'} for every target of `gain` (target -> the Interval of
    dpt − zero-shot accuracy there): 'level' where the interval holds zero."""
    return interval_guess(guess, gain, words=("up", "down", "level"), digits=1,
                          measured="dpt − zero-shot, points, 95% interval",
                          agree="Your guess matches the measured differences")


# 06 · predict: which differences with zero-shot CLIP the test images confirm (their paired intervals)
def interval_guess(prediction, differences: dict, words=("above", "below", "level"), digits: int = 2,
                   measured: str = "HM − zero-shot, paired 95% interval", agree: str = "As you predicted") -> str:
    """Notebook 06 (and 08): prediction {name: words[0], words[1] or words[2]} for every name of `differences`
    (name -> an Interval of a difference): words[0] where the interval is above zero, words[1] below, words[2]
    where it holds zero."""
    given(prediction)
    assert isinstance(prediction, dict) and set(prediction) == set(differences), \
        f"predict one word for each of {', '.join(differences)}"
    assert all(p in words for p in prediction.values()), f"each is {', '.join(repr(w) for w in words)}"
    actual = {k: words[0] if iv.lo > 0 else words[1] if iv.hi < 0 else words[2] for k, iv in differences.items()}
    said = "; ".join(f"{k} {iv.mean:+.{digits}f} [{iv.lo:.{digits}f}, {iv.hi:.{digits}f}]"
                     for k, iv in differences.items())
    wrong = [k for k in differences if prediction[k] != actual[k]]
    assert not wrong, (f"measured ({measured}): {said}. Your prediction differs on {', '.join(wrong)}: "
                       f"{', '.join(actual[k] for k in wrong)}.")
    return f"{agree}: {said}."


# 06 · predict, then train: a new seed's a − b (HM, one dataset) against the paired interval of the stored seeds
def new_seed_interval(prediction, new: dict, interval, stored: list, a: str = "kgcoop", b: str = "coop") -> str:
    """Notebook 06: prediction 'inside' or 'outside': where a − b on HM for a seed the learner trained (new: {a: row,
    b: row}, rows of dpt.run.base_to_novel on one dataset) falls against `interval` (the stored paired interval of
    a − b on that dataset, over the seeds of `stored`, the stored rows). The interval resamples test images with the
    stored seeds held fixed: it says nothing about another seed, which is why this is a prediction."""
    given(prediction)
    assert prediction in ("inside", "outside"), f"seed_prediction is {prediction!r}: write 'inside' or 'outside'"
    assert set(new) == {a, b}, f"train both {a} and {b} on the new seed"
    (seed,), (dataset,) = {new[m]["seed"] for m in new}, {new[m]["dataset"] for m in new}
    mine = {(r["label"], r["seed"]): r["hm"] for r in stored if r["dataset"] == dataset and r["label"] in (a, b)}
    seeds = sorted({s for _, s in mine})
    assert seeds and seed not in seeds, f"seed {seed} is one of the stored seeds {seeds}: train a new one"
    got = new[a]["hm"] - new[b]["hm"]
    actual = "inside" if interval.lo <= got <= interval.hi else "outside"
    said = (f"{a} − {b} on {dataset}, seed {seed}: {got:+.2f} HM points; the paired 95% interval of seeds "
            f"{', '.join(map(str, seeds))}: {interval.mean:+.2f} [{interval.lo:.2f}, {interval.hi:.2f}]; each stored "
            "seed alone: " + ", ".join(f"{mine[a, s] - mine[b, s]:+.2f}" for s in seeds))
    assert prediction == actual, f"you predicted {prediction!r}, the new seed falls {actual}: {said}."
    return f"As you predicted, {actual}: {said}."
