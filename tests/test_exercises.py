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
    shown = ex.check("my_infonce", lambda: ex.infonce(stub)).data
    assert shown.startswith("**Not done yet:**") and "my_infonce" in shown


def test_template_ensemble(bb):
    assert "equals the library" in ex.template_ensemble(S.my_ensemble, bb, CLASSES)
    with pytest.raises(AssertionError):  # forgetting to normalise again
        ex.template_ensemble(lambda b, c, t: torch.stack([b.encode_prompts([x.format(k) for k in c]) for x in t]).mean(0),
                             bb, CLASSES)


def test_coop_numbers(bb):
    assert "class_specific=True" in ex.coop_numbers(S.coop_numbers, bb, CLASSES)
    with pytest.raises(AssertionError):
        ex.coop_numbers(lambda n, w, c, cs: n * w, bb, CLASSES)  # one context even when class-specific


def test_infonce():
    assert "log 64" in ex.infonce(S.my_infonce)
    with pytest.raises(AssertionError):
        ex.infonce(lambda S_: (S_.diag() - torch.logsumexp(S_, dim=1)).mean())  # without log N


def test_mixup_targets():
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(24, 8, generator=g), dim=-1)
    y = torch.arange(24) % 4
    assert "equal the library" in ex.mixup_targets(S.my_targets, x, y, 4)
    with pytest.raises(AssertionError):
        ex.mixup_targets(lambda lab, p, lam, n: torch.eye(n)[lab], x, y, 4)  # the hard label


def test_kgcoop_term(bb):
    from dpt.methods import MethodConfig, build_method
    torch.manual_seed(0)
    m = build_method("kgcoop", bb, CLASSES, "a photo of a {}.", MethodConfig())
    with torch.no_grad():
        m.prompt_learner.ctx.add_(0.3 * torch.randn_like(m.prompt_learner.ctx))  # a drifted context
    x = torch.nn.functional.normalize(torch.randn(8, bb.embed_dim), dim=-1)
    y = torch.arange(8) % len(CLASSES)
    said = ex.kgcoop_term(S.my_kg, S.paper_weight, m, x, y)
    assert "a factor 2 apart" in said
    with pytest.raises(AssertionError):
        ex.kgcoop_term(S.my_kg, lambda lam: lam / 2, m, x, y)  # the inference this exercise replaced


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


EXERCISES = {"01_zero_shot_clip": "my_ensemble", "02_soft_prompts_coop": "coop_numbers",
             "03_mutual_information": "my_infonce", "04_classwise_augmentation": "my_targets",
             "05_dual_view_method": "my_kg", "06_base_to_novel_benchmark": "hm_of_average",
             "07_analysis": "best_weight_per_seed"}


@pytest.mark.parametrize("notebook,name", EXERCISES.items())
def test_each_notebook_leaves_its_exercise_to_the_learner(notebook, name):
    """The committed notebook holds the stub (its check said *not done yet*), never the solution."""
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    stub = [s for s in code if f"def {name}(" in s]
    assert stub and all("todo()" in s for s in stub), f"{notebook}: the exercise cell of {name} is not a stub"
    shown = ["".join(o.get("data", {}).get("text/markdown", "")) for c in cells if c["cell_type"] == "code"
             for o in c.get("outputs", [])]
    assert any("Not done yet" in s and name in s for s in shown), f"{notebook}: no check reported {name} not done"
