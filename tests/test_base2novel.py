import json

from dpt.base2novel import run_benchmark, summarise


def test_finished_runs_are_skipped_and_changed_ones_replaced(tmp_path):
    out = tmp_path / "b2n.json"
    kw = dict(methods=["zeroshot"], datasets=["mini_toys"], seeds=[1], out=out, split="val", progress=False)
    first = run_benchmark(**kw, train_overrides={"epochs": 1})
    again = run_benchmark(**kw, train_overrides={"epochs": 1})
    assert again == first and len(first) == 1
    changed = run_benchmark(**kw, train_overrides={"epochs": 2})
    assert len(changed) == 1 and changed[0]["config"] != first[0]["config"]
    assert json.loads(out.read_text())["rows"] == changed
    row = changed[0]
    assert set(row) >= {"method", "dataset", "seed", "base", "novel", "hm"}
    assert summarise(changed)[-1]["dataset"] == "average"
