from dpt.experiments.base2novel import run_benchmark
from dpt.experiments.summary import format_table, summarise


def test_grid_rows_come_back_in_grid_order_and_summarise(tmp_path):
    rows = run_benchmark(["zeroshot", "coop"], ["mini_toys"], [1, 2], tmp_path / "b2n.json", split="val",
                         train_overrides={"epochs": 2}, progress=False)
    assert [(r["label"], r["seed"]) for r in rows] == [("zeroshot", 1), ("zeroshot", 2), ("coop", 1), ("coop", 2)]
    assert set(rows[0]) >= {"label", "method", "dataset", "seed", "shots", "split", "base", "novel", "hm", "run_id",
                            "identity", "provenance"}
    summary = summarise(rows)
    assert [(s["label"], s["dataset"], s["n"]) for s in summary] == [
        ("zeroshot", "mini_toys", 2), ("coop", "mini_toys", 2), ("zeroshot", "average", 1), ("coop", "average", 1)]
    assert "coop       average" in format_table(summary)
