"""Every exercise of the course: its check passes on the solution (notebooks/exercise_solutions.py), fails on a
wrong answer, and reports a stub as not done yet, so an untouched notebook still runs top to bottom."""
import importlib.util
import json
import random
from pathlib import Path

import pytest
import torch

from dpt.experiments import exercises as ex

ROOT = Path(__file__).resolve().parents[1]


def solutions():
    spec = importlib.util.spec_from_file_location("exercise_solutions", ROOT / "notebooks" / "exercise_solutions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S = solutions()


@pytest.fixture(scope="module")
def bb():
    from dpt.backbones import load_backbone
    return load_backbone("miniclip")


CLASSES = ("red balloon", "blue balloon", "green balloon", "yellow balloon")


def rows_of(labels, seeds=(1, 2, 3), datasets=("a", "b", "c"), seed=0):
    rng = random.Random(seed)
    out = []
    for label in labels:
        for d in datasets:
            for s in seeds:
                b, n = rng.uniform(40, 95), rng.uniform(40, 95)
                out.append({"label": label, "dataset": d, "seed": s, "base": b, "novel": n, "hm": 2 * b * n / (b + n)})
    return out


def test_a_stub_is_not_done_yet_and_fails_nothing():
    def stub(*args):
        ex.todo()
    shown = ex.check("my_ensemble", lambda: stub()).data
    assert shown.startswith("**Not done yet:**") and "my_ensemble" in shown


def test_template_ensemble(bb):
    assert "equals the library" in ex.template_ensemble(S.my_ensemble, bb, CLASSES)
    with pytest.raises(AssertionError, match="lengths"):  # forgetting to normalise again (01 · the check says so)
        ex.template_ensemble(lambda b, c, t: torch.stack([b.encode_prompts([x.format(k) for k in c]) for x in t]).mean(0),
                             bb, CLASSES)


# 00 · check your understanding: the higher HM of two prompts
def test_higher_hm():
    a, b = {"base": 96, "novel": 53}, {"base": 70, "novel": 76}
    assert "HM of A" in ex.higher_hm(S.hm_answer, a, b)
    with pytest.raises(AssertionError, match="plain mean"):  # the plain mean's answer
        ex.higher_hm("A", a, b)
    with pytest.raises(AssertionError):
        ex.higher_hm("neither", a, b)
    assert ex.check("answer", lambda: ex.higher_hm(ex.TODO, a, b)).data.startswith("**Not done")


# 01 · predict: the template ensemble against the dataset's own template, on the miniature's first dataset
def test_ensemble_prediction(bb):
    from dpt.data import load_dataset, subsample_classes
    from dpt.evaluate import accuracy
    from dpt.features import image_features
    from dpt.methods import build_method
    from dpt.prompts import ENSEMBLE_TEMPLATES
    ds = load_dataset("mini_toys")
    single, ensemble = {}, {}
    for k in ("base", "novel"):
        d = subsample_classes(ds, k)
        f = image_features(bb, d, "test", progress=False)
        single[k] = accuracy(build_method("zeroshot", bb, d.classnames, ds.template), f.features, f.labels)
        templates = list(dict.fromkeys([ds.template, *ENSEMBLE_TEMPLATES]))
        ensemble[k] = accuracy(build_method("zeroshot", bb, d.classnames, templates), f.features, f.labels)
    assert "As you predicted" in ex.ensemble_prediction(S.ensemble_prediction, single, ensemble)
    with pytest.raises(AssertionError):  # "an ensemble is better on both halves"
        ex.ensemble_prediction({"base": "higher", "novel": "higher"}, single, ensemble)
    with pytest.raises(AssertionError):  # not a direction
        ex.ensemble_prediction({"base": "up", "novel": "down"}, single, ensemble)
    shown = ex.check("prediction", lambda: ex.ensemble_prediction({"base": ex.TODO, "novel": "lower"}, single, ensemble))
    assert shown.data.startswith("**Not done yet:**")


# 02 · CoCoOp's meta-net, and predict-then-train with fewer epochs
def test_meta_net_numbers(bb):
    assert "ratio 8" in ex.meta_net_numbers(S.meta_net_numbers, bb, CLASSES)
    assert "as you predicted" in ex.meta_net_numbers(S.meta_net_numbers, bb, CLASSES, S.meta_net_prediction)
    with pytest.raises(AssertionError, match="you predicted fewer"):  # 02 · the prediction is checked first
        ex.meta_net_numbers(S.meta_net_numbers, bb, CLASSES, "fewer")
    assert ex.check("p", lambda: ex.meta_net_numbers(S.meta_net_numbers, bb, CLASSES, ex.TODO)).data.startswith("**Not done")
    with pytest.raises(AssertionError):  # the weight matrices only, no biases
        ex.meta_net_numbers(lambda d, w, r: d * (d // r) + (d // r) * w, bb, CLASSES)


def test_fewer_epochs_on_the_miniature(bb):
    from dpt.data import load_dataset
    from dpt.experiments.profiles import get_profile
    from dpt.run import base_to_novel
    profile, ds = get_profile("miniature"), load_dataset("mini_paints")
    train = lambda e: base_to_novel(bb, ds, profile.run_config("coop", 1, train_overrides={"epochs": e}), progress=False)
    reference = base_to_novel(bb, ds, profile.run_config("coop", 1), progress=False)
    assert "As you predicted" in ex.fewer_epochs(S.fewer_epochs_prediction, S.fewer_epochs, train, reference)
    with pytest.raises(AssertionError):  # "fewer epochs fit the base classes better"
        ex.fewer_epochs({"base": "higher", "novel": "higher"}, S.fewer_epochs, train, reference)
    with pytest.raises(AssertionError):  # the full schedule is not fewer epochs
        ex.fewer_epochs(S.fewer_epochs_prediction, 30, train, reference)
    with pytest.raises(AssertionError, match="from 2 to 10"):  # 02 · one epoch is the warm-up alone
        ex.fewer_epochs(S.fewer_epochs_prediction, 1, train, reference)
    not_done = ex.check("epochs", lambda: ex.fewer_epochs(S.fewer_epochs_prediction, ex.TODO, train, reference))
    assert not_done.data.startswith("**Not done yet:**")


def test_todo_is_a_placeholder_at_a_cells_top_level_and_raises_inside_a_function():
    namespace = {"todo": ex.todo}
    exec("value = todo()", namespace)  # a notebook cell's top level
    assert namespace["value"] is ex.TODO
    with pytest.raises(NotImplementedError):
        ex.given({"base": namespace["value"]})
    with pytest.raises(NotImplementedError):
        (lambda: ex.todo())()


def test_hm_of_averages():
    rows = rows_of(["coop", "kgcoop"])
    assert "coop" in ex.hm_of_averages(S.hm_of_average, S.average_of_hm, rows, ["coop", "kgcoop"])
    with pytest.raises(AssertionError):
        ex.hm_of_averages(S.average_of_hm, S.average_of_hm, rows, ["coop", "kgcoop"])


def test_best_weight_per_seed():
    rows = rows_of(["w0", "w1", "w10"], seed=3)
    sweep = {0.0: "w0", 1.0: "w1", 10.0: "w10"}
    assert "per seed" in ex.best_weight_per_seed(S.best_weight_per_seed, rows, sweep)
    with pytest.raises(AssertionError):  # the same weight for every seed, whatever the rows say
        ex.best_weight_per_seed(lambda r, s: {k: 0.0 for k in (1, 2, 3)}, rows_of(["w0", "w1", "w10"], seed=5), sweep)


# 03-05 · predict, then train, then check (the runs' numbers as the notebooks measured them), and 03's re-mapping
def test_predict_mi_weight():  # 03: w_MI 0 -> 100 on mini_toys, seed 1
    measured = {"mi": (2.311, 2.395), "cosine": (0.829, 0.733)}
    tol = {"mi": 0.02, "cosine": 0.02}
    assert "as you predicted" in ex.prediction(S.predict_mi_weight, measured, tol, "w_MI from 0 to 100")
    with pytest.raises(AssertionError, match="cosine up"):  # the intuition the notebook corrects
        ex.prediction(lambda: {"mi": "up", "cosine": "up"}, measured, tol, "w_MI from 0 to 100")
    with pytest.raises(AssertionError, match="keys"):
        ex.prediction(lambda: {"mi": "up"}, measured, tol, "w_MI from 0 to 100")
    with pytest.raises(AssertionError, match="'up', 'down' or 'same'"):
        ex.prediction(lambda: {"mi": "higher", "cosine": "down"}, measured, tol, "w_MI from 0 to 100")
    assert ex.check("p", lambda: ex.prediction(lambda: ex.todo(), measured, tol, "w")).data.startswith("**Not done")


def test_predict_mixup_alpha():  # 04: mixup_alpha 1 -> 0.2 on mini_toys, seed 1
    measured, tol = {"confidence": (0.900, 0.927)}, {"confidence": 0.01}  # 04 · the soft prompt alone
    assert "as you predicted" in ex.prediction(S.predict_mixup_alpha, measured, tol, "alpha")
    for wrong in ("down", "same"):
        with pytest.raises(AssertionError):
            ex.prediction(lambda: {"confidence": wrong}, measured, tol, "alpha")
    assert ex.direction(0.900, 0.903, 0.01) == "same"


def test_predict_no_mi():  # 05: w_MI default -> 0 on mini_paints, seed 1
    measured = {"base": (83.54, 90.42), "novel": (70.62, 48.54)}  # 05 · the cosine is not asked (too close to call)
    tol = {"base": 1.0, "novel": 1.0}
    assert "as you predicted" in ex.prediction(S.predict_no_mi, measured, tol, "removing the MI term")
    with pytest.raises(AssertionError, match="novel up"):
        ex.prediction(lambda: {"base": "up", "novel": "up"}, measured, tol, "removing the MI term")
    with pytest.raises(AssertionError, match="base same"):
        ex.prediction(lambda: {"base": "same", "novel": "down"}, measured, tol, "removing the MI term")


def test_one_to_one_remap(bb):  # 03
    from dpt.methods import MethodConfig, build_method
    hand = build_method("coop", bb, CLASSES + ("red cube", "blue cube", "green cube", "yellow cube"),
                        "a photo of a {}.", MethodConfig()).hand
    assert "the pairing is intact" in ex.one_to_one_remap(S.my_remap, hand)
    for wrong in (lambda h: h, lambda h: -h,  # 03 · the identity (cosine 1) and -hand (cosine -1): not orthogonal
                  lambda h: torch.cat([-h[:4], h[4:]])):  # a mean cosine of 0 from +1 and -1: not orthogonal
        with pytest.raises(AssertionError, match="near 0"):
            ex.one_to_one_remap(wrong, hand)
    away = torch.linalg.svd(hand, full_matrices=True).Vh[-1]  # a direction orthogonal to every hand-crafted feature
    with pytest.raises(AssertionError, match="one-to-one"):  # orthogonal, but every class sent to the same point
        ex.one_to_one_remap(lambda h: away.expand_as(h), hand)


EXERCISES = {"01_zero_shot_clip": "my_ensemble", "02_soft_prompts_coop": "meta_net_numbers",
             "03_mutual_information": "my_remap predict_mi_weight",  # 03 · two exercises, space-separated
             "04_classwise_augmentation": "predict_mixup_alpha",
             "05_dual_view_method": "predict_no_mi", "06_base_to_novel_benchmark": "hm_of_average",
             "07_analysis": "best_weight_per_seed"}


@pytest.mark.parametrize("notebook,name", EXERCISES.items())
def test_each_notebook_leaves_its_exercise_to_the_learner(notebook, name):
    """The committed notebook holds the stub (its check said *not done yet*), never the solution."""
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    shown = ["".join(o.get("data", {}).get("text/markdown", "")) for c in cells if c["cell_type"] == "code"
             for o in c.get("outputs", [])]
    for name in name.split():  # 03 · a notebook may hold two exercises
        stub = [s for s in code if f"def {name}(" in s]
        assert stub and all("todo()" in s for s in stub), f"{notebook}: the exercise cell of {name} is not a stub"
        assert any("Not done yet" in s and name in s for s in shown), f"{notebook}: no check reported {name} not done"


# 01, 02 · the exercises where the learner sets a value (a prediction, a changed knob): `name = ... todo() ...`
VALUE_EXERCISES = [("01_zero_shot_clip", "prediction"), ("02_soft_prompts_coop", "prediction"),
                   ("02_soft_prompts_coop", "epochs"),
                   ("00_setup_and_tour", "answer"), ("02_soft_prompts_coop", "meta_net_prediction"),  # 00, 02
                   ("06_base_to_novel_benchmark", "hm_prediction"), ("07_analysis", "same_weight_prediction"),  # 06-08
                   ("06_base_to_novel_benchmark", "interval_prediction"),  # 06
                   ("06_base_to_novel_benchmark", "seed_prediction"),  # 06 · a new seed against the interval
                   ("08_transfer_and_domains", "guess")]


@pytest.mark.parametrize("notebook,name", VALUE_EXERCISES)
def test_each_notebook_leaves_its_predictions_to_the_learner(notebook, name):
    """The committed notebook sets the value to todo() (its check said *not done yet*), never to an answer."""
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    sets = [line for s in code for line in s.splitlines() if line.startswith(f"{name} = ")]
    assert sets and all("todo()" in line for line in sets), f"{notebook}: {name} is not left as todo()"
    shown = ["".join(o.get("data", {}).get("text/markdown", "")) for c in cells if c["cell_type"] == "code"
             for o in c.get("outputs", [])]
    assert any("Not done yet" in s and name in s for s in shown), f"{notebook}: no check reported {name} not done"


# 06-08 · predict, then train: each check trains with the library, as its notebook does, on the solution and on a
# prediction that goes the other way
def _predict_check(name, bb):
    import dpt.run
    from dpt.data import load_dataset
    from dpt.evaluate import score
    from dpt.experiments.course import Course
    from dpt.experiments.profiles import get_profile
    from dpt.inputs import evaluation_set
    from dpt.methods import MethodConfig, build_method
    P = Course(get_profile("miniature"))
    P._backbone = bb
    paints = load_dataset("mini_paints")
    if name == "predict_soft_hand_mix":  # 07
        ref = dpt.run.base_to_novel(bb, paints, P.run_config("dpt", 1), progress=False)
        train = lambda w: dpt.run.base_to_novel(bb, paints, P.run_config("dpt", 1, method_cfg=MethodConfig(ensemble=w)),
                                                progress=False)
        return lambda pred: ex.predicted_change(pred, train, {k: ref[k] for k in ("base", "novel")},
                                                allowed=lambda w: None if 0.4 <= w <= 0.7 else "from 0.4 to 0.7")
    names = {"photos": "mini_colours", "sketches": "mini_colours_sketch", "pixel art": "mini_colours_r"}
    sets = {k: evaluation_set(bb, load_dataset(n), "test", progress=False) for k, n in names.items()}
    photos = load_dataset("mini_colours")
    zs = score(build_method("zeroshot", bb, photos.classnames, photos.template), sets)
    train = lambda s: score(dpt.run.train_on_base(bb, load_dataset(s), P.run_config("dpt", 1, classes="all"),
                                                  progress=False)[0], sets)
    return lambda pred: ex.predicted_change(pred, train, zs, allowed=lambda s: None if s in names.values() else "a rendering")


WRONG = {"predict_soft_hand_mix": lambda: (0.6, {"base": "up", "novel": "down"}),  # 07 · the other way
         "predict_transfer": lambda: ("mini_colours_sketch", {"photos": "down", "sketches": "up", "pixel art": "up"})}


@pytest.mark.parametrize("name", WRONG)
def test_predict_then_train(name, bb):
    run = _predict_check(name, bb)
    assert "matches the run" in run(getattr(S, name))
    with pytest.raises(AssertionError, match="went the other way"):
        run(WRONG[name])
    with pytest.raises(AssertionError):  # a setting the exercise does not ask for is refused before any training
        run(lambda: ({"predict_soft_hand_mix": 0.3}.get(name, "mini_toys"), getattr(S, name)()[1]))
    def stub():
        ex.todo()
    assert ex.check(name, lambda: run(stub)).data.startswith("**Not done yet:**")


@pytest.mark.parametrize("notebook,name", [("07_analysis", "predict_soft_hand_mix"),
                                           ("08_transfer_and_domains", "predict_transfer")])
def test_each_predict_exercise_is_left_to_the_learner(notebook, name):
    test_each_notebook_leaves_its_exercise_to_the_learner(notebook, name)


# 06-08 · the predictions written before the answer: checked on the solution and on the other answer
def _miniature():
    from dpt.experiments.course import Course
    from dpt.experiments.profiles import get_profile
    return Course(get_profile("miniature"))


def test_hm_prediction():  # 06
    B = _miniature().results("base2novel").select(datasets=["mini_toys", "mini_paints", "mini_stamps"])
    labels = ["zeroshot", "coop", "dpt"]
    rows = B.select(labels=labels).rows
    assert "As you predicted" in ex.hm_prediction(S.hm_prediction, S.hm_of_average, S.average_of_hm, rows, labels)
    for wrong in ("average of hms", "equal"):
        with pytest.raises(AssertionError, match="you predicted"):
            ex.hm_prediction(wrong, S.hm_of_average, S.average_of_hm, rows, labels)
    with pytest.raises(AssertionError):
        ex.hm_prediction("higher", S.hm_of_average, S.average_of_hm, rows, labels)
    assert ex.check("p", lambda: ex.hm_prediction(ex.TODO, S.hm_of_average, S.average_of_hm, rows, labels)).data.startswith("**Not done")


def test_same_weight_every_seed():  # 07
    A = _miniature().results("ablation", split="val")
    sweep = {0.0: "no_mi", 10.0: "dpt", **{w: f"mi_weight_{w:g}" for w in (1.0, 3.0, 30.0, 100.0)}}
    rows = A.select(labels=list(sweep.values())).rows
    assert "As you predicted" in ex.same_weight_every_seed(S.same_weight_prediction, S.best_weight_per_seed, rows, sweep)
    with pytest.raises(AssertionError, match="you predicted"):
        ex.same_weight_every_seed(not S.same_weight_prediction, S.best_weight_per_seed, rows, sweep)
    with pytest.raises(AssertionError):  # a right prediction does not excuse a wrong function
        ex.same_weight_every_seed(S.same_weight_prediction, lambda r, s: {1: 0.0, 2: 0.0, 3: 0.0}, rows, sweep)


@pytest.mark.parametrize("notebook", ["06", "08"])
def test_interval_guess(notebook):  # on the solution, a wrong answer, a malformed one and the stub
    from dpt.experiments import course
    if notebook == "06":
        B = _miniature().results("base2novel").select(datasets=_miniature().datasets)
        diffs, answer = {m: B.difference(m, "zeroshot") for m in ("prograd", "promptsrc")}, S.interval_prediction
        check, agree, wrong = ex.interval_guess, "As you predicted", {"promptsrc": "above"}
    else:
        T = _miniature().results("transfer")
        diffs, answer = {t: course.accuracy_difference(T, "dpt", "zeroshot", t) for t in S.guess}, S.guess
        check, agree, wrong = ex.transfer_guess, "matches", {"mini_colours_sketch": "up"}
    assert agree in check(answer, diffs)
    with pytest.raises(AssertionError, match="differs on"):
        check({**answer, **wrong}, diffs)
    with pytest.raises(AssertionError):
        check(dict(list(wrong.items())), diffs)  # one name only
    first = next(iter(answer))
    assert ex.check("p", lambda: check({**answer, first: ex.TODO}, diffs)).data.startswith("**Not done")
    assert course.exercises.interval_guess is ex.interval_guess


def test_new_seed_interval(bb):  # 06 · trains seed 4 of KgCoOp and CoOp on mini_paints, as the notebook does
    import dpt.run
    from dpt.data import load_dataset
    P = _miniature()
    B = P.results("base2novel").select(datasets=P.datasets)
    iv, paints = B.difference("kgcoop", "coop", "mini_paints"), load_dataset("mini_paints")
    new = {m: dpt.run.base_to_novel(bb, paints, P.run_config(m, 4), progress=False) for m in ("kgcoop", "coop")}
    assert "As you predicted, inside" in ex.new_seed_interval(S.seed_prediction, new, iv, B.rows)
    with pytest.raises(AssertionError, match="you predicted 'outside'"):
        ex.new_seed_interval("outside", new, iv, B.rows)
    with pytest.raises(AssertionError, match="'inside' or 'outside'"):
        ex.new_seed_interval("above", new, iv, B.rows)
    with pytest.raises(AssertionError, match="outside"):  # the same seed-4 runs against an interval they miss
        ex.new_seed_interval(S.seed_prediction, new, type(iv)(iv.mean, iv.hi + 1, iv.hi + 2), B.rows)
    old = {m: {**r, "seed": 1} for m, r in new.items()}
    with pytest.raises(AssertionError, match="train a new one"):  # a stored seed is not a new one
        ex.new_seed_interval(S.seed_prediction, old, iv, B.rows)
    assert ex.check("p", lambda: ex.new_seed_interval(ex.TODO, new, iv, B.rows)).data.startswith("**Not done")
