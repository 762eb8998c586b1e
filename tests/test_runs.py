"""Run identity, the results store and the grid: stale results are never reused, rows are never lost."""
import json
import multiprocessing as mp
import os

import pytest
import torch

from dpt.experiments.base2novel import run_benchmark
from dpt.experiments.profiles import get_profile
from dpt.data import load_dataset
from dpt.experiments.store import UnusableStore
from dpt.run import RunConfig
from dpt.experiments.identity import run_id, run_identity
from dpt.methods import MethodConfig
from dpt.experiments.store import ResultsStore
from dpt.trainer import TrainConfig

from conftest import make_dtd

QUICK = dict(datasets=["mini_toys"], seeds=[1], split="val", progress=False, train_overrides={"epochs": 2})
ZERO_SHOT = {**QUICK, "train_overrides": None}  # a training option given to zero-shot alone is refused


def _id(run, ds, bb, device="cpu"):
    return run_id(run_identity(run, ds, bb, device))


def test_identity_changes_with_weights_shots_epochs_options_and_data(mini_random, miniclip, tmp_path):
    ds = load_dataset("mini_toys")
    run = RunConfig("dpt", shots=16, train=TrainConfig(epochs=30))
    ref = _id(run, ds, miniclip)
    assert ref == _id(RunConfig("dpt", shots=16, train=TrainConfig(epochs=30)), ds, miniclip)  # deterministic
    changed = {
        "weights": _id(run, ds, mini_random),
        "shots": _id(RunConfig("dpt", shots=2, train=TrainConfig(epochs=30)), ds, miniclip),
        "epochs": _id(RunConfig("dpt", shots=16, train=TrainConfig(epochs=2)), ds, miniclip),
        "seed": _id(RunConfig("dpt", shots=16, train=TrainConfig(epochs=30, seed=2)), ds, miniclip),
        "option": _id(RunConfig("dpt", train=TrainConfig(epochs=30), method_cfg=MethodConfig(mi_weight=1.0)), ds, miniclip),
        "split": _id(RunConfig("dpt", train=TrainConfig(epochs=30), eval_split="val"), ds, miniclip),
        "device": _id(run, ds, miniclip, "cuda"),
        "dataset": _id(run, load_dataset("mini_paints"), miniclip),
    }
    assert len(set(changed.values()) | {ref}) == len(changed) + 1, changed
    # an option a method does not read does not change its identity
    coop = RunConfig("coop", train=TrainConfig(epochs=30))
    assert _id(coop, ds, miniclip) == _id(RunConfig("coop", train=TrainConfig(epochs=30),
                                                    method_cfg=MethodConfig(mi_weight=1.0)), ds, miniclip)
    # a file replaced at the same path (same name, new contents) changes the data fingerprint
    root = make_dtd(tmp_path)
    dtd = load_dataset("DTD", root=root)
    before = _id(coop, dtd, miniclip)
    img = root / "dtd" / "images" / "banded" / "test_0.jpg"
    from PIL import Image
    Image.new("RGB", (30, 30), (1, 2, 3)).save(img)
    assert _id(coop, load_dataset("DTD", root=root), miniclip) != before


def test_methods_read_only_the_options_in_their_identity(miniclip):
    """Each method's `config_fields` must list every MethodConfig field it reads (else the identity lies)."""
    from dpt.methods import METHODS, build_method
    features = torch.nn.functional.normalize(torch.randn(8, miniclip.embed_dim), dim=-1)
    images = torch.randn(8, 3, 48, 48)  # methods with visual prompts take images
    y = torch.arange(8) % 2
    for name, cls in METHODS.items():
        x = images if cls.encodes_images else features
        read = set()

        class Recording(MethodConfig):
            def __getattribute__(self, k):
                if k in MethodConfig.__dataclass_fields__:
                    read.add(k)
                return super().__getattribute__(k)

        cfg = Recording()
        read.clear()  # __post_init__ validates every field; record only what the method reads
        m = build_method(name, miniclip, ["red star", "blue ring"], "a photo of a {}.", cfg)
        if m.trainable:
            m.loss(x, y)[0].backward()
        m.logits(x)
        assert read <= set(cls.config_fields), (name, read - set(cls.config_fields))


def test_a_quick_trial_leaves_the_committed_row_alone(tmp_path):
    out = tmp_path / "b2n.json"
    full = run_benchmark(["coop"], out=out, **{**QUICK, "train_overrides": {"epochs": 2}})
    quick = run_benchmark(["coop"], out=out, shots=2, **QUICK)
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 2 and {r["run_id"] for r in rows} == {full[0]["run_id"], quick[0]["run_id"]}
    assert {r["shots"] for r in rows} == {16, 2}
    assert next(r for r in rows if r["shots"] == 16) == full[0]
    # the same identity again is reused, not retrained (its provenance shows the first run)
    again = run_benchmark(["coop"], out=out, **{**QUICK, "train_overrides": {"epochs": 2}})
    assert again == full


def test_the_same_identity_under_another_label_is_reused(tmp_path):
    out = tmp_path / "b2n.json"
    a = run_benchmark(["zeroshot"], out=out, **ZERO_SHOT)
    b = run_benchmark(["zeroshot"], out=out, tag="reference", **ZERO_SHOT)
    assert b[0]["label"] == "reference" and b[0]["run_id"] == a[0]["run_id"]
    assert b[0]["provenance"] == a[0]["provenance"]
    assert {r["label"] for r in json.loads(out.read_text())["rows"]} == {"zeroshot", "reference"}


def _writer(path, start, n):
    store = ResultsStore(path)
    for i in range(start, start + n):
        store.add({"label": "m", "method": "m", "dataset": "d", "split": "val", "seed": i, "run_id": f"{i:04d}",
                   "base": 1.0, "identity": {"seed": i}, "provenance": {}})


@pytest.mark.slow
def test_concurrent_writers_keep_every_row(tmp_path):
    path = tmp_path / "shared.json"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, k * 100, 40)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    rows = ResultsStore(path).rows()
    assert sorted(r["seed"] for r in rows) == sorted(k * 100 + i for k in range(4) for i in range(40))
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


@pytest.mark.parametrize("content, match", [
    ('{"results": [1, 2]}', "not a dpt results file"),
    ('{"rows": []}', "older dpt"),
    ("not json at all", "not a dpt results file"),
])
def test_a_file_that_is_not_a_results_file_is_refused_and_left_alone(tmp_path, content, match):
    path = tmp_path / "other.json"
    path.write_text(content)
    with pytest.raises(UnusableStore, match=match):
        run_benchmark(["zeroshot"], out=path, **ZERO_SHOT)
    assert path.read_text() == content


def test_rows_carry_their_identity_and_provenance(tmp_path):
    row = run_benchmark(["kgcoop"], out=tmp_path / "r.json", **QUICK)[0]
    ident = row["identity"]
    assert ident["method_config"]["kg_weight"] == 8.0 and "mi_weight" not in ident["method_config"]
    assert ident["train"]["epochs"] == 2 and ident["shots"] == 16 and ident["split"] == "val"
    assert ident["backbone"] == "miniclip" and len(ident["weights"]) == 16 and len(ident["data"]) == 16
    assert row["provenance"]["engine"] == "local" and row["provenance"]["weights_source"].endswith("miniclip.pt")


def test_profile_owns_the_defaults():
    mini = get_profile("miniature")
    assert mini.train_config("coop", 1).epochs == 30
    assert mini.train_config("cocoop", 1).batch_size == 8  # CoCoOp's own default, on its class
    assert mini.train_config("cocoop", 1, {"batch_size": 4}).batch_size == 4  # the user's override wins
    assert get_profile("real").train_config("coop", 1).epochs == 200  # the reference recipe (recipes.json)


def _all_methods():
    from dpt.methods import METHODS
    return list(METHODS)


@pytest.mark.parametrize("method", _all_methods())
def test_a_run_config_with_no_options_is_the_command_with_no_options(method):
    """RunConfig(method=...) in Python trains what `python -m dpt base2novel --methods NAME` trains on the default
    miniature (seed 1, no option given): one place for the defaults, the library."""
    from dpt.experiments.profiles import get_profile
    from dpt.run import RunConfig
    assert RunConfig(method=method) == get_profile("miniature").run_config(method, 1)


def test_a_method_keeps_its_own_training_defaults_under_an_override():
    assert TrainConfig.for_method("cocoop", epochs=5) == TrainConfig(epochs=5, batch_size=8)
    assert TrainConfig.for_method("ivlp").lr == 0.0025 and TrainConfig.for_method("coop") == TrainConfig()
