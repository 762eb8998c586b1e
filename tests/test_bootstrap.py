"""Paired bootstrap intervals over test images, the tuner's refusal to look at test, and CoOp + ensemble."""
import json
import math

import numpy as np
import pytest
import torch

from dpt.experiments.bootstrap import Bootstrap, pack, row_intervals, unpack
from dpt.errors import BadInput
from dpt.evaluate import harmonic_mean


def _row(label, seed, base_hits, novel_hits, dataset="d", data="fp"):
    b, n = 100 * np.mean(base_hits), 100 * np.mean(novel_hits)
    return {"label": label, "dataset": dataset, "seed": seed, "split": "test", "base": round(b, 2),
            "novel": round(n, 2), "hm": round(harmonic_mean(b, n), 2), "identity": {"data": data},
            "correct": {"base": pack(base_hits), "novel": pack(novel_hits)}}


def _hits(p, n, seed):
    return np.random.default_rng(seed).random(n) < p


def test_pack_round_trips_any_length():
    for n in (0, 1, 7, 8, 9, 480):
        hits = _hits(0.6, n, n)
        assert (unpack(pack(hits)) == hits).all() and unpack(pack(hits)).dtype == bool


def test_identical_predictions_give_a_zero_width_difference():
    rows = [_row(m, s, _hits(0.8, 480, s), _hits(0.6, 480, 10 + s)) for m in ("a", "b") for s in (1, 2, 3)]
    boot = Bootstrap(rows)
    for d in ("d", "average"):
        for k in ("base", "novel", "hm"):
            diff = boot.difference("a", "b", d, k)
            assert diff.mean == diff.lo == diff.hi == 0 and not diff.excludes_zero()
            assert boot.interval("a", d, k).hi - boot.interval("a", d, k).lo > 1  # but each has a real width


def test_a_fixed_seed_reproduces_the_intervals_and_another_seed_does_not():
    rows = [_row(m, 1, _hits(p, 480, i), _hits(q, 480, 9 + i)) for i, (m, p, q) in enumerate([("a", .8, .6), ("b", .7, .7)])]
    one, two, other = Bootstrap(rows, seed=0), Bootstrap(rows, seed=0), Bootstrap(rows, seed=1)
    assert str(one.difference("a", "b", "average", "hm")) == str(two.difference("a", "b", "average", "hm"))
    assert str(one.difference("a", "b", "average", "hm")) != str(other.difference("a", "b", "average", "hm"))


def test_interval_width_matches_the_binomial_standard_error():
    hits = _hits(0.75, 480, 0)
    boot = Bootstrap([_row("a", 1, hits, hits)])
    ci = boot.interval("a", "d", "base")
    p = hits.mean()
    se = 100 * math.sqrt(p * (1 - p) / len(hits))
    assert ci.lo < ci.mean < ci.hi and abs((ci.hi - ci.lo) - 2 * 1.96 * se) < 0.6  # about ±3.9 points here
    assert row_intervals({"base": hits, "novel": hits})["base"] == pytest.approx([ci.lo, ci.hi], abs=0.6)


def test_a_real_gap_is_told_from_noise_by_pairing():
    """b is a with 12 of its right answers turned wrong: unpaired intervals overlap, the paired difference is sure."""
    base = _hits(0.8, 480, 0)
    worse = base.copy()
    worse[np.flatnonzero(base)[:12]] = False
    boot = Bootstrap([_row("a", 1, base, base), _row("b", 1, worse, worse)])
    a, b = boot.interval("a", "d", "hm"), boot.interval("b", "d", "hm")
    assert a.lo < b.hi  # the two intervals overlap ...
    diff = boot.difference("a", "b", "d", "hm")
    assert diff.lo > 0.5 and diff.excludes_zero()  # ... yet a is better on these images, by 2.5 points


def test_rows_without_records_or_from_other_data_are_refused():
    good = _row("a", 1, _hits(.8, 40, 0), _hits(.6, 40, 1))
    old = {k: v for k, v in good.items() if k != "correct"}
    with pytest.raises(BadInput, match="no per-image record"):
        Bootstrap([good, {**old, "label": "b"}])
    with pytest.raises(BadInput, match="different data"):
        Bootstrap([good, _row("b", 1, _hits(.8, 40, 0), _hits(.6, 40, 1), data="other")])
    with pytest.raises(BadInput, match="same set"):
        Bootstrap([good, _row("b", 1, _hits(.8, 41, 0), _hits(.6, 40, 1))])


def test_grid_rows_record_the_images_behind_their_accuracy(tmp_path):
    from dpt.experiments.base2novel import run_benchmark
    from dpt.experiments.summary import summarise
    rows = run_benchmark(["zeroshot", "coop"], ["mini_toys"], [1], tmp_path / "r.json", shots=1,
                         train_overrides={"epochs": 2}, progress=False)
    for r in rows:
        for half in ("base", "novel"):
            assert round(100 * unpack(r["correct"][half]).mean(), 2) == r[half]
            assert r["ci"][half][0] <= r[half] <= r["ci"][half][1]
    s = summarise(rows)
    assert all(x["hm_lo"] <= x["hm"] <= x["hm_hi"] for x in s)


def test_the_tuner_never_reads_test(tmp_path, monkeypatch):
    from dpt.experiments import tune
    calls = []
    monkeypatch.setattr(tune, "run_benchmark", lambda *a, **k: calls.append(k) or [])
    with pytest.raises(BadInput, match="val split only"):
        tune.tune(["kgcoop"], ["mini_toys"], [1], tmp_path / "runs.json", split="test")
    with pytest.raises(BadInput, match="val split only"):
        tune.main(["--methods", "kgcoop", "--split", "test", "--out", str(tmp_path / "t.json")])
    with pytest.raises(BadInput, match="no knob to tune for zeroshot"):
        tune.tune(["zeroshot"], ["mini_toys"], [1], tmp_path / "runs.json")
    assert not calls and not (tmp_path / "t.json").exists()


def test_the_tuner_searches_every_value_on_val_and_keeps_the_best(tmp_path, monkeypatch):
    from dpt.experiments import tune
    seen = []

    def fake(methods, datasets, seeds, out, *, split, variants, **kw):
        (label, (method, overrides)), = variants.items()
        seen.append((split, method, overrides, kw["train_overrides"]))
        v = overrides.get("kg_weight", kw["train_overrides"].get("epochs"))
        hm_like = 80 - abs(math.log(v / 4))  # best at 4
        return [{"label": label, "dataset": "d", "seed": 1, "base": hm_like, "novel": hm_like, "hm": hm_like}]
    monkeypatch.setattr(tune, "run_benchmark", fake)
    out = tune.tune(["kgcoop", "coop"], ["d"], [1], tmp_path / "runs.json")
    assert {s for s, *_ in seen} == {"val"} and len(seen) == 12
    assert out["kgcoop"]["chosen"] == 4.0 and [e["value"] for e in out["kgcoop"]["val"]] == list(tune.KNOBS["kgcoop"].values)
    assert out["coop"]["where"] == "train" and out["coop"]["chosen"] == 5  # epochs: the nearest to 4 on the grid
    assert all(t == {} for s, m, o, t in seen if m == "kgcoop") and all(o == {} for s, m, o, t in seen if m == "coop")


def test_promptsrc_moves_both_loss_weights_at_the_reference_ratio(tmp_path, monkeypatch):
    from dpt.experiments import tune
    seen = []

    def fake(methods, datasets, seeds, out, *, split, variants, **kw):
        (label, (method, overrides)), = variants.items()
        seen.append((label, overrides, kw["train_overrides"]))
        return [{"label": label, "dataset": "d", "seed": 1, "base": 70.0, "novel": 70.0, "hm": 70.0}]
    monkeypatch.setattr(tune, "run_benchmark", fake)
    out = tune.tune(["promptsrc", "ivlp"], ["d"], [1], tmp_path / "runs.json")
    src = [(label, o) for label, o, t in seen if label.startswith("promptsrc")]
    assert len(src) == 6 and all(o["src_image_weight"] == pytest.approx(0.4 * o["src_text_weight"]) for _, o in src)
    assert src[3] == ("promptsrc[src_text_weight=25,src_image_weight=10]", {"src_text_weight": 25.0, "src_image_weight": 10.0})
    assert out["promptsrc"]["default"] == 25.0 and out["promptsrc"]["settings"] == {"src_text_weight": 2.5, "src_image_weight": 1.0}
    assert out["ivlp"]["default"] == 20  # IVLP's own 20 epochs, not the profile's 30
    assert tune.tuned_overrides(out["promptsrc"]) == ({"src_text_weight": 2.5, "src_image_weight": 1.0}, {})
    assert tune.tuned_overrides(out["ivlp"]) == ({}, {"epochs": 2})


def test_a_second_search_keeps_the_other_methods_choices_and_refuses_a_different_search(tmp_path, monkeypatch):
    from dpt.experiments import tune
    calls = []

    def fake(methods, datasets, seeds, out, *, split, variants, **kw):
        (label, _), = variants.items()
        calls.append(label)
        return [{"label": label, "dataset": d, "seed": s, "base": 70.0, "novel": 70.0, "hm": 70.0}
                for d in datasets for s in seeds]
    monkeypatch.setattr(tune, "run_benchmark", fake)
    out, runs = tmp_path / "tuning.json", str(tmp_path / "runs.json")
    common = ["--datasets", "mini_toys", "--seeds", "1", "--out", str(out), "--runs", runs, "--no-progress"]
    tune.main(["--methods", "kgcoop", *common])
    tune.main(["--no-progress", "--methods", "maple", *common[:-1]])
    saved = json.loads(out.read_text())
    assert set(saved["methods"]) == {"kgcoop", "maple"}
    # the record is the command that makes the choice; a display-only flag, wherever it stands, is not part of it
    assert saved["methods"]["maple"]["command"] == \
        f"python -m dpt tune --methods maple --datasets mini_toys --seeds 1 --out {out} --runs {runs}"
    n = len(calls)
    with pytest.raises(BadInput, match="other seeds"):
        tune.main(["--methods", "kgcoop", *common[:3], "2", *common[4:]])
    with pytest.raises(BadInput, match="other train"):
        tune.main(["--methods", "kgcoop", "--epochs", "3", *common])
    assert len(calls) == n and set(json.loads(out.read_text())["methods"]) == {"kgcoop", "maple"}


def test_two_searches_at_once_keep_each_others_choices(tmp_path, monkeypatch):
    from dpt.experiments import tune
    out, runs = tmp_path / "tuning.json", str(tmp_path / "runs.json")
    common = ["--datasets", "mini_toys", "--seeds", "1", "--out", str(out), "--runs", runs, "--no-progress"]
    started = []

    def fake(methods, datasets, seeds, out_, *, split, variants, **kw):
        (label, _), = variants.items()
        if not started:  # while the kgcoop search runs, a second process finishes a maple search
            started.append(label)
            tune.main(["--methods", "maple", *common])
        return [{"label": label, "dataset": "mini_toys", "seed": 1, "base": 70.0, "novel": 70.0, "hm": 70.0}]
    monkeypatch.setattr(tune, "run_benchmark", fake)
    tune.main(["--methods", "kgcoop", *common])
    assert set(json.loads(out.read_text())["methods"]) == {"kgcoop", "maple"}


def test_coop_ensemble_mixes_the_hand_crafted_view_only_at_test_time(miniclip):
    from dpt.methods import MethodConfig, build_method
    names = ["red balloon", "blue balloon", "green bead"]
    torch.manual_seed(0)
    coop = build_method("coop", miniclip, names, "a photo of a {}.", MethodConfig())
    torch.manual_seed(0)
    ens = build_method("coop_ensemble", miniclip, names, "a photo of a {}.", MethodConfig(ensemble=0.5))
    with torch.no_grad():
        for m in (coop, ens):
            m.prompt_learner.ctx.add_(0.3 * torch.randn(m.prompt_learner.ctx.shape, generator=torch.Generator().manual_seed(1)))
    x = torch.nn.functional.normalize(torch.randn(4, miniclip.embed_dim), dim=-1)
    y = torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(ens.loss(x, y)[0], coop.loss(x, y)[0])  # training sees the soft view only
    mixed = torch.nn.functional.normalize(coop.soft_features() + coop.hand, dim=-1)
    torch.testing.assert_close(ens.text_features(), mixed)             # test time: (soft + hand) / 2, renormalised
    assert not torch.allclose(ens.text_features(), coop.text_features())


def test_dpt_hand_ensemble_changes_only_the_mi_terms_view(miniclip):
    from dpt.data.world import phrasing_ensemble
    from dpt.methods import MethodConfig, build_method
    from dpt.prompts import hand_crafted_features
    names, template = ["red ink", "blue ink", "green chalk"], "a photo of {}."
    from dpt.methods.base import ensembled
    soft_only = MethodConfig(ensemble=0.0)  # the soft view alone classifies
    torch.manual_seed(0)
    one = build_method("dpt", miniclip, names, template, soft_only)
    torch.manual_seed(0)
    ens = build_method("dpt_hand_ensemble", miniclip, names, template, soft_only)
    assert phrasing_ensemble(template) == ["a photo of {}.", "a picture of {}.", "an image of {}.", "a photograph of {}."]
    torch.testing.assert_close(ens.hand, hand_crafted_features(miniclip, names, phrasing_ensemble(template)))
    assert not torch.allclose(ens.hand, one.hand)
    x = torch.nn.functional.normalize(torch.randn(4, miniclip.embed_dim), dim=-1)
    torch.testing.assert_close(ens.logits(x), one.logits(x))  # the soft view classifies, unchanged
    torch.manual_seed(0)  # with dpt's default inference ensemble, the richer hand view is what it mixes in
    mixed = build_method("dpt_hand_ensemble", miniclip, names, template, MethodConfig())
    torch.testing.assert_close(mixed.text_features(), ensembled(mixed.soft_features(), mixed.hand, MethodConfig().ensemble))
    ens.set_classnames(["pink ink"], "pixel art of a {}.")    # novel classes / another dataset: its own ensemble
    torch.testing.assert_close(ens.hand, hand_crafted_features(miniclip, ["pink ink"], phrasing_ensemble("pixel art of a {}.")))


def test_accuracy_bootstrap_pairs_labels_on_each_target():
    from dpt.experiments.bootstrap import AccuracyBootstrap

    def row(label, target, seed, hits):
        return {"label": label, "target": target, "seed": seed, "accuracy": round(100 * hits.mean(), 2),
                "correct": pack(hits)}
    a = {t: _hits(0.7, 240, i) for i, t in enumerate(("x", "y"))}
    rows = [row(m, t, s, a[t]) for m in ("coop", "dpt") for t in a for s in (1, 2)]
    rows.append(row("zeroshot", "x", 1, ~a["x"]))
    boot = AccuracyBootstrap(rows, cell=lambda r: (r["label"], r["target"]), pool=lambda r: r["target"])
    same = boot.difference(("dpt", "x"), ("coop", "x"))
    assert same.lo == same.hi == 0                                  # identical predictions: zero width
    flip = boot.difference(("dpt", "x"), ("zeroshot", "x"))
    assert flip.lo > 0 and abs(flip.mean - (200 * a["x"].mean() - 100)) < 0.01
    ci = boot.interval(("dpt", "y"))
    assert ci.lo < ci.mean < ci.hi and 8 < ci.hi - ci.lo < 15     # ±2·1.96·sqrt(.21/240) ≈ 11.6 points wide
    with pytest.raises(BadInput, match="same set"):
        AccuracyBootstrap(rows + [row("kgcoop", "x", 1, _hits(0.7, 100, 0))], cell=lambda r: (r["label"], r["target"]),
                          pool=lambda r: r["target"])


def test_shots_differences_name_zero_shot_and_pair_on_the_dataset():
    from dpt.experiments.transfer import shots_differences
    hits = _hits(0.6, 120, 3)
    rows = [{"label": m, "source": "d", "target": "d", "shots": s, "seed": 1, "accuracy": round(100 * h.mean(), 2),
             "correct": pack(h)} for m, s, h in (("coop", 16, hits), ("dpt", 16, hits), ("zeroshot", None, ~hits))]
    text = shots_differences(rows, [(("coop", 16), ("dpt", 16)), (("dpt", 16), ("zeroshot", None))], ["d"])
    head, line = text.splitlines()[:2]
    assert "coop@16 − dpt@16" in head and "dpt@16 − zeroshot" in head
    assert "0.00 [  0.00,   0.00] " in line and line.rstrip().endswith("*")  # identical: zero; hits vs ~hits: real


def test_comparing_with_a_method_that_has_no_rows_there_is_one_line(tmp_path, monkeypatch, capsys):
    import sys
    """`compare --vs A B` where B never ran on a dataset: one line that says so, no traceback."""
    import json
    from dpt.experiments import cli
    from dpt.experiments.bootstrap import pack
    rows = []
    for label, dataset in (("a", "d1"), ("b", "d1"), ("a", "d2")):
        rows.append({"label": label, "method": label, "dataset": dataset, "seed": 1, "split": "test", "base": 50.0,
                     "novel": 50.0, "hm": 50.0, "run_id": f"{label}{dataset}", "identity": {"seed": 1, "data": dataset},
                     "provenance": {}, "correct": {"base": pack([1, 0]), "novel": pack([0, 1])}})
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"format": "dpt-results", "version": 1, "rows": rows}))
    monkeypatch.setattr(sys, "argv", ["dpt", "compare", str(path), "--vs", "a", "b"])
    with pytest.raises(SystemExit) as e:
        cli.main()
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "no rows of b on d2" in err[0], err
