"""The fidelity criteria: Spearman's rho, each verdict, the table per profile, and the docs and course showing the
table the criteria files hold (not a typed copy)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dpt.experiments.fidelity import (COLUMNS, EIGHT, FIDELITY_PROFILES, criteria, fidelity_table, format_fidelity,
                                      published_criteria, ranks, spearman)
from dpt.experiments.published import published

ROOT = Path(__file__).resolve().parents[1]


def test_ranks_share_ties_and_spearman_matches_its_definition():
    assert ranks([3.0, 1.0, 2.0, 1.0]) == [4.0, 1.5, 3.0, 1.5]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # no ties: 1 - 6 sum d^2 / (n (n^2 - 1)); d = (0, 1, -1, 0, 0) -> 1 - 12 / 120
    assert spearman([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(0.9)


def test_real_clip_meets_every_criterion_it_defines():
    c = published_criteria()
    assert all(v["holds"] for v in c.values()), {k: v for k, v in c.items() if not v["holds"]}
    assert c["ranking_spearman"]["rho"] == 1.0
    assert set(c["two_best_prompt_the_image_encoder"]["two_best"]) == {"maple", "promptsrc"}


def test_each_verdict_fails_where_its_phenomenon_is_missing():
    avg = {m: dict(published(m)) for m in EIGHT}
    avg["cocoop"]["novel"] = avg["coop"]["novel"] + 1  # CoCoOp ties CoOp on novel
    avg["kgcoop"]["hm"] = avg["coop"]["hm"] - 1
    avg["zeroshot"]["base"] = 90.0
    c = criteria(avg, {"d": {"zeroshot": avg["zeroshot"]}})
    failing = {k for k, v in c.items() if not v["holds"]}
    assert failing == {"cocoop_novel_at_least_coop_plus_3", "kgcoop_hm_above_coop", "zero_shot_within_50_85",
                       "coop_base_at_least_zero_shot_plus_5", "ranking_spearman"}
    assert c["zero_shot_within_50_85"]["per_dataset"] == {"d": [90.0, 74.22]}


def test_the_table_reads_each_profiles_file_and_says_not_measured_without_one(tmp_path):
    avg = {m: dict(published(m)) for m in EIGHT}
    avg["ivlp"]["hm"] = 10.0  # last: the ranking drops, the two best change
    folder = tmp_path / "results" / "miniature-v1"
    folder.mkdir(parents=True)
    (folder / "criteria.json").write_text(json.dumps({"format": "dpt-miniature-criteria", "datasets": ["a", "b"],
                                                      "criteria": criteria(avg)}))
    rows = fidelity_table(tmp_path)
    assert [r["profile"] for r in rows] == ["real CLIP ViT-B/16 (published)", "miniature-v1 (default)", "miniature-v2"]
    ref, v1, v2 = rows
    assert ref["ranking_spearman"] == "—" and ref["coop_novel_at_most_zero_shot_minus_3"] == "−11.0 ✓"
    assert v1["datasets"] == "a, b" and v1["ranking_spearman"].endswith("✗")
    assert v1["two_best_prompt_the_image_encoder"] == "promptsrc, maple ✓"
    assert v1["one_domain"] == "two families per dataset, photographed differently ✗"
    assert v2["ranking_spearman"] == "not measured" and v2["one_domain"].endswith("✓")
    text = format_fidelity(rows)
    assert len(text.splitlines()) == 3 + len(COLUMNS)


def committed_table() -> str:
    return format_fidelity(fidelity_table(ROOT))


def test_every_miniature_profile_has_committed_criteria():
    assert "not measured" not in committed_table()


def test_the_docs_show_the_committed_table():
    assert committed_table() in (ROOT / "docs" / "miniature.md").read_text()


@pytest.mark.parametrize("notebook", ["00_setup_and_tour", "06_base_to_novel_benchmark"])  # 06 · both link the table
def test_the_course_links_the_committed_table(notebook):
    """The course links docs/miniature.md for the fidelity table (shown there, checked above) rather than repeating it."""
    nb = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())
    text = ["".join(c["source"]) for c in nb["cells"]] + ["".join(o.get("data", {}).get("text/markdown", ""))
                                                        for c in nb["cells"] for o in c.get("outputs", [])]
    assert any("miniature.md" in s for s in text), f"{notebook} does not link the fidelity table in docs/miniature.md"


# 00 · the tour says in one paragraph what the miniature is not, with the committed rho, and links the table
def test_notebook_00_states_the_committed_rho_and_links_the_table():
    from dpt.experiments import course
    nb = json.loads((ROOT / "notebooks" / "00_setup_and_tour.ipynb").read_text())
    shown = ["".join(o.get("data", {}).get("text/markdown", "")) for c in nb["cells"] if c["cell_type"] == "code"
             for o in c.get("outputs", [])]
    rho = f"ρ = {course.num(course.miniature_fidelity()['rho'], 2)}"
    link = "../docs/miniature.md#how-far-each-miniature-is-from-real-clip-the-fidelity-table"
    assert any(rho in s and link in s for s in shown), "notebook 00 does not state the committed ρ beside the link"
    assert "## How far each miniature is from real CLIP (the fidelity table)" in (ROOT / "docs" / "miniature.md").read_text()


def test_the_command_refuses_an_unknown_profile_before_any_run(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "miniature_criteria.py"), "--profile", "nope"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode != 0 and "unknown profile 'nope'" in r.stderr
    assert not (tmp_path / "results").exists()


def test_the_table_lists_every_miniature_profile():
    from dpt.experiments.profiles import PROFILE_NAMES
    assert set(FIDELITY_PROFILES) == {n for n in PROFILE_NAMES if n.startswith("miniature-")}


def test_the_docs_show_each_profiles_committed_diagnostics():
    from dpt.experiments.fidelity import format_diagnostics
    docs = (ROOT / "docs" / "miniature.md").read_text()
    for profile in FIDELITY_PROFILES:
        table = format_diagnostics(profile, ROOT)
        assert "not measured" not in table and table in docs, profile
