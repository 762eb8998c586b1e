"""The Ray engine runs the same grid as the local engine and writes the same rows."""
import pytest

from dpt.experiments.base2novel import run_benchmark

ray = pytest.importorskip("ray", reason='the Ray engine is an optional extra: pip install -e ".[ray]"')

IDENTITY_AND_SCORES = ("label", "method", "dataset", "seed", "shots", "split", "base", "novel", "hm", "run_id", "identity")


def test_ray_engine_equals_local_engine(tmp_path):
    from dpt.experiments.engines import LocalEngine, RayEngine
    kw = dict(methods=["zeroshot", "dpt"], datasets=["mini_toys", "mini_paints"], seeds=[1, 2], split="val",
              train_overrides={"epochs": 3}, progress=False)
    local = run_benchmark(out=tmp_path / "local.json", engine=LocalEngine(), **kw)
    remote = run_benchmark(out=tmp_path / "ray.json", engine=RayEngine(num_cpus=2), **kw)
    assert len(local) == len(remote) == 8
    assert [{k: r[k] for k in IDENTITY_AND_SCORES} for r in remote] == \
        [{k: r[k] for k in IDENTITY_AND_SCORES} for r in local]
    assert {r["provenance"]["engine"] for r in remote} == {"ray"}
    assert {r["provenance"]["pid"] for r in remote} != {r["provenance"]["pid"] for r in local}  # other processes


def test_ray_engine_runs_transfer_like_the_local_engine(tmp_path):
    from dpt.experiments.engines import LocalEngine, RayEngine
    from dpt.experiments.transfer import run_transfer
    kw = dict(methods=["zeroshot", "coop"], source="mini_colours", targets=["mini_colours", "mini_toys"], seeds=[1],
              split="val", train_overrides={"epochs": 2}, progress=False)
    local = run_transfer(out=tmp_path / "local.json", engine=LocalEngine(), **kw)
    remote = run_transfer(out=tmp_path / "ray.json", engine=RayEngine(num_cpus=2), **kw)
    keys = ("label", "source", "target", "seed", "shots", "accuracy", "run_id", "identity")
    assert len(local) == 4 and [{k: r[k] for k in keys} for r in remote] == [{k: r[k] for k in keys} for r in local]
