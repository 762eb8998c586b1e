"""`python -m dpt transfer` and `python -m dpt shots` on tiny grids: rows, identities, reuse, bad input."""
import json
import time

import pytest

from dpt.backbones import load_backbone
from dpt.data import load_dataset
from dpt.evaluate import accuracy
from dpt.features import image_features
from dpt.methods import build_method
from dpt.experiments.transfer import run_shots, run_transfer, shots_table, transfer_table

QUICK = dict(seeds=[1], split="val", progress=False, train_overrides={"epochs": 2})
TARGETS = ["mini_colours", "mini_colours_sketch", "mini_toys"]


def test_transfer_rows_score_each_target_with_its_own_classes_and_template(tmp_path):
    out = tmp_path / "transfer.json"
    rows = run_transfer(["zeroshot", "coop"], "mini_colours", TARGETS, out=out, **QUICK)
    assert [(r["label"], r["target"]) for r in rows] == [(m, t) for m in ("zeroshot", "coop") for t in TARGETS]
    assert all(r["source"] == "mini_colours" and r["split"] == "val" for r in rows)
    assert [r["shots"] for r in rows] == [None] * 3 + [16] * 3  # zero-shot reads no shots
    # known answer: zero-shot on a target is CLIP with the target's own class names and template
    bb = load_backbone("miniclip")
    toys = load_dataset("mini_toys")
    f = image_features(bb, toys, "val", progress=False)
    direct = accuracy(build_method("zeroshot", bb, toys.classnames, toys.template), f.features, f.labels)
    assert rows[2]["accuracy"] == round(direct, 2)
    # one training run per (method, seed), one identity per target
    coop = rows[3:]
    assert len({r["run_id"] for r in coop}) == 3
    assert {r["identity"]["target"] for r in coop} == set(TARGETS)
    assert {r["identity"]["classes"] for r in coop} == {"all"}
    assert len({r["provenance"]["finished"] for r in coop}) == 1
    assert len(json.loads(out.read_text())["rows"]) == 6
    assert "mini_colours_sketch" in transfer_table(rows)


def test_transfer_reuses_stored_targets_and_runs_only_what_is_missing(tmp_path):
    out = tmp_path / "transfer.json"
    first = run_transfer(["coop"], "mini_colours", TARGETS[:2], out=out, **QUICK)
    again = run_transfer(["coop"], "mini_colours", TARGETS[:2], out=out, **QUICK)
    assert again == first  # reused: the same rows, provenance included
    time.sleep(1.1)  # provenance records the finishing second: a new run in the same second would look stored
    more = run_transfer(["coop"], "mini_colours", TARGETS, out=out, **QUICK)
    assert more[:2] == first  # the stored targets stay as they were
    assert more[2]["target"] == "mini_toys" and more[2]["provenance"] != first[0]["provenance"]
    assert len(json.loads(out.read_text())["rows"]) == 3


def test_base_to_novel_identity_is_unchanged_and_differs_from_transfer(tmp_path):
    """The base-to-novel identity has no classes/target fields (so every committed row keeps its id);
    training on all classes is another run."""
    from dpt.experiments.base2novel import run_benchmark
    b2n = run_benchmark(["coop"], ["mini_colours"], out=tmp_path / "b.json", **QUICK)[0]
    tr = run_transfer(["coop"], "mini_colours", ["mini_colours"], out=tmp_path / "t.json", **QUICK)[0]
    assert "classes" not in b2n["identity"] and "target" not in b2n["identity"]
    assert b2n["run_id"] != tr["run_id"]
    assert {k: v for k, v in tr["identity"].items() if k not in ("classes", "target", "target_data")} == b2n["identity"]


def test_shots_curve_rows(tmp_path):
    out = tmp_path / "shots.json"
    rows = run_shots(["zeroshot", "coop"], shots=(1, 2), datasets=["mini_toys"], out=out, **QUICK)
    assert [(r["label"], r["shots"]) for r in rows] == [("zeroshot", None), ("coop", 1), ("coop", 2)]
    assert all(r["source"] == r["target"] == "mini_toys" for r in rows)
    assert rows[1]["identity"]["shots"] == 1 and rows[2]["identity"]["shots"] == 2
    assert rows[1]["run_id"] != rows[2]["run_id"]
    table = shots_table(rows)
    assert table.splitlines()[0].split()[1:] == ["-", "1", "2"]


@pytest.mark.parametrize("argv, match", [
    (["transfer", "--source", "ImageNetA", "--targets", "ImageNetR"], "need a data root"),
    (["transfer", "--source", "mini_colours", "--targets", "mini_nope"], "unknown dataset 'mini_nope'"),
    (["transfer", "--datasets", "mini_toys"], "unrecognized arguments: --datasets"),
    (["shots", "--shots", "0", "--datasets", "mini_toys"], "shots must be"),
    (["base2novel", "--shots", "0", "--datasets", "mini_toys"], "shots must be"),
    (["shots", "--methods", "coop", "nope", "--datasets", "mini_toys"], "invalid choice: 'nope'"),
])
def test_bad_input_stops_with_one_line_and_records_nothing(monkeypatch, capsys, tmp_path, argv, match):
    from test_bad_input import refused
    out = tmp_path / "r.json"
    refused(monkeypatch, capsys, out, *argv, "--no-progress", match=match)
    assert not out.exists()


def test_a_variant_without_training_images_is_refused_as_a_source(tmp_path):
    from dpt.experiments.datasets import check_transfer
    ds = load_dataset("mini_colours")
    from dataclasses import replace
    with pytest.raises(ValueError, match="no training images.*cannot be a source"):
        check_transfer(replace(ds, train=()), None)
    with pytest.raises(ValueError, match="no test images"):
        check_transfer(replace(ds, test=()), "test")


def test_class_specific_contexts_stop_before_training(monkeypatch, capsys, tmp_path):
    """Class-specific contexts cannot move to a target's classes: refused before any run, nothing recorded."""
    from test_bad_input import refused
    import dpt.run
    monkeypatch.setattr(dpt.run, "train", lambda *a, **k: pytest.fail("trained before refusing"))
    out = tmp_path / "r.json"
    refused(monkeypatch, capsys, out, "transfer", "--methods", "coop", "--source", "mini_colours", "--targets",
            "mini_toys", "--set", "class_specific=true", "--seeds", "1", "--no-progress", match="class-specific")
    assert not out.exists()
