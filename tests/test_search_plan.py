"""The pre-registered search: a plan is checked whole before any run, and its stages choose by the
rules the plan states (stage-1 choice inherited, stage 3 combining the best helpful piece of each group)."""
import json

import pytest

from dpt.errors import BadInput
from dpt.experiments import search as S

PLAN = {
    "format": "dpt-search-plan", "profile": "miniature", "split": "val", "datasets": ["mini_toys"], "seeds": [1],
    "shots": 2, "method": "dpt", "values_per_knob": 2,
    "stages": [
        {"stage": 1, "variants": [{"label": "dpt", "method": "dpt", "knob": "mi_weight", "values": [1.0, 3.0]}]},
        {"stage": 2, "variants": [
            {"label": "explore", "method": "dpt", "fixed": {"mi_visual": "soft"}, "inherit": {"mi_weight": "dpt"},
             "knob": "mi_visual_weight", "values": [1.0, 3.0]},
            {"label": "anchor", "method": "dpt", "fixed": {"anchor": "confidence"}, "knob": "mi_weight",
             "values": [1.0, 3.0]},
            {"label": "shots", "method": "dpt", "fixed": {"ensemble_from": "shots"}, "inherit": {"mi_weight": "dpt"}}]},
        {"stage": 3, "combine": {"label": "combined", "base": "dpt", "groups": [["explore"], ["anchor"], ["shots"]]}},
    ],
}


def write(tmp_path, plan):
    p = tmp_path / "plan.json"
    p.write_text(json.dumps(plan))
    return p


@pytest.mark.parametrize("change, match", [
    (lambda p: p.update(split="test"), "val split only"),
    (lambda p: p.pop("seeds"), "lacks seeds"),
    (lambda p: p["stages"][0]["variants"][0].update(values=[1.0]), "the budget is 2 per knob"),
    (lambda p: p["stages"][1]["variants"][0].update(inherit={"mi_weight": "nope"}), "not an earlier variant"),
    (lambda p: p["stages"][1]["variants"][1].update(fixed={"anchor": "sometimes"}), "anchor must be fixed"),
    (lambda p: p["stages"][2]["combine"].update(groups=[["missing"]]), "combine names unknown variants"),
    (lambda p: p.update(held_out=["mini_toys"]), r"held-out \['mini_toys'\] is also searched on"),
])
def test_a_bad_plan_is_refused_before_any_run(tmp_path, change, match):
    plan = json.loads(json.dumps(PLAN))
    change(plan)
    with pytest.raises(BadInput, match=match):
        S.read_plan(write(tmp_path, plan))


def test_the_stages_choose_by_the_plans_rules(tmp_path, monkeypatch):
    """With made-up val HMs: stage 2 inherits stage 1's mi_weight, stage 3 combines the pieces that beat stage 1
    (explore and shots here, not anchor), and the best variant overall is the choice."""
    hm = {"dpt[mi_weight=1]": 70, "dpt[mi_weight=3]": 72,
          "explore[mi_visual=soft,mi_weight=3,mi_visual_weight=1]": 71,
          "explore[mi_visual=soft,mi_weight=3,mi_visual_weight=3]": 74,
          "anchor[anchor=confidence,mi_weight=1]": 69, "anchor[anchor=confidence,mi_weight=3]": 71,
          "shots[ensemble_from=shots,mi_weight=3]": 73,
          "combined[mi_weight=3,mi_visual=soft,mi_visual_weight=3,ensemble_from=shots]": 75}
    seen = []

    def fake(method, label, settings, plan, runs, kw):
        seen.append(label)
        return {"label": label, "settings": settings, "base": 80.0, "novel": 60.0, "hm": hm[label]}
    monkeypatch.setattr(S, "run_setting", fake)
    out = S.search(S.read_plan(write(tmp_path, PLAN)), tmp_path / "runs.json")
    assert out["variants"]["explore"]["fixed"]["mi_weight"] == 3.0  # inherited from stage 1's choice
    assert out["variants"]["combined"]["combined"] == ["explore", "shots"]
    assert out["chosen"]["label"] == "combined" and out["chosen"]["val"]["hm"] == 75
    assert seen[-1].startswith("combined[")


def test_the_result_records_the_command_without_display_flags_and_options_are_spelled_out(tmp_path, monkeypatch):
    """What a search records is the command that reproduces it: `--no-progress` (display only) is left out, and an
    abbreviated option is refused, so a record never holds a spelling the Makefile does not use."""
    monkeypatch.setattr(S, "run_setting", lambda method, label, settings, plan, runs, kw: {
        "label": label, "settings": settings, "base": 80.0, "novel": 60.0, "hm": 70.0 + len(label) / 100})
    plan, out, runs = write(tmp_path, PLAN), tmp_path / "result.json", tmp_path / "runs.json"
    S.main(["--plan", str(plan), "--no-progress", "--out", str(out), "--runs", str(runs)])
    assert json.loads(out.read_text())["command"] == f"python -m dpt search --plan {plan} --out {out} --runs {runs}"
    with pytest.raises(BadInput, match="unrecognized arguments: --no-prog"):
        S.main(["--plan", str(plan), "--no-prog", "--out", str(tmp_path / "other.json"), "--runs", str(runs)])
