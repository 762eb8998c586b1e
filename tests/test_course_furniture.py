"""What every notebook of the course has around its content: goals and prerequisites, a measured run time, a
summary with working links, references; and the shared pieces behind them (the run-time record, the references,
the method's diagram, the labels of the lines of equal HM)."""
import json
import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def cells(path):
    return json.loads(path.read_text())["cells"]


def text(c):
    return "".join(c["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_goals_a_run_time_a_summary_links_and_references(path):
    cs = cells(path)
    first = text(cs[0])
    assert "**You will learn**" in first and "**Before you start:**" in first
    assert any(f"P.run_time('{path.stem}')" in text(c) for c in cs if c["cell_type"] == "code")
    summary = text(cs[-2])
    assert summary.startswith("## Summary")
    for target in re.findall(r"\]\(([^)]+\.ipynb)\)", summary):
        assert (path.parent / target).is_file(), f"{path.name} links to a missing {target}"
    i = [p.stem for p in NOTEBOOKS].index(path.stem)
    assert ("**Previous:**" in summary) == (i > 0) and ("**Next:**" in summary) == (i < len(NOTEBOOKS) - 1)
    assert "references(" in text(cs[-1])


def test_the_run_time_is_recorded_by_the_course_command_and_read_back(tmp_path):
    from dpt.errors import BadInput
    from dpt.experiments import course
    nb = tmp_path / "02_x.ipynb"
    course.record_run_time(nb, 75.0, "miniature-v1")
    course.record_run_time(nb, 30.0, "real")  # another profile's entry is kept beside it
    times = course.read_run_times(tmp_path / "run_times.json")
    assert times["miniature-v1"]["02_x"]["seconds"] == 75.0 and times["real"]["02_x"]["seconds"] == 30.0
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "run_times.json").write_text("{}")  # a file of someone else's: not replaced
    with pytest.raises(BadInput, match="is not a course run-time record"):
        course.record_run_time(other / "02_x.ipynb", 1.0, "real")


def test_a_recorded_run_time_is_what_the_notebook_shows(tmp_path, monkeypatch):
    from dpt.experiments import course
    from dpt.experiments.profiles import get_profile
    course.record_run_time(tmp_path / "03_y.ipynb", 90.0, "miniature-v1")
    monkeypatch.setattr(course, "RUN_TIMES", tmp_path / "run_times.json")
    shown = course.Course(get_profile("miniature")).run_time("03_y").data
    assert "1.5 min" in shown and "miniature-v1" in shown


def test_the_run_time_cell_says_not_measured_without_a_record(tmp_path, monkeypatch):
    from dpt.experiments import course
    from dpt.experiments.profiles import get_profile
    monkeypatch.setattr(course, "RUN_TIMES", tmp_path / "none.json")
    shown = course.Course(get_profile("miniature")).run_time("00_setup_and_tour").data
    assert "not measured yet" in shown


def test_references_render_and_refuse_an_unknown_key():
    from dpt.experiments.references import REFERENCES, reference_lines
    lines = reference_lines(*REFERENCES)
    assert all(l.startswith("* ") and "](https://arxiv.org/abs/" in l for l in lines)
    with pytest.raises(KeyError, match="no reference 'nope'"):
        reference_lines("coop", "nope")


def test_the_method_diagram_marks_the_frozen_and_the_learned_parts():
    from dpt.experiments.figures import method_diagram
    texts = [t.get_text() for t in method_diagram().axes[0].texts]
    assert sum("(frozen" in t for t in texts) == 3
    assert any("learned context" in t for t in texts) and any("critic" in t for t in texts)


def test_hm_labels_sit_inside_the_frame_above_the_points():
    import matplotlib.pyplot as plt
    from dpt.experiments.figures import fit_axes, hm_isolines
    fig, ax = plt.subplots()
    hm_isolines(ax)
    ax.scatter([60, 95, 99.5], [70, 50, 90], zorder=3)
    fit_axes(ax, [60, 95, 99.5], [70, 50, 90])
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    labels = ax._hm_labels
    assert labels and all(x0 <= t.get_position()[0] <= x1 and y0 <= t.get_position()[1] <= y1 for t in labels)
    assert all(t.get_zorder() > 3 for t in labels)
    assert x1 >= 99.5 + 1  # a point near 100 is drawn whole, not cut by the frame


def test_the_tuned_test_runs_say_their_reuse_once(monkeypatch, capsys):
    from dpt.experiments import tune
    def fake_benchmark(methods, datasets, seeds, out, *, on_reuse, variants, **kwargs):
        on_reuse(9, "results.json")
        return [{"label": label} for label in variants]
    monkeypatch.setattr(tune, "run_benchmark", fake_benchmark)
    tuning = {m: {"knob": "epochs", "chosen": 10, "default": 30, "values": [10, 30], "target": "train"}
              for m in ("coop", "kgcoop")}
    monkeypatch.setattr(tune, "tuned_overrides", lambda choice: ({}, {}))
    rows = tune.test_tuned(tuning, ["a"], [1], "results.json")
    assert [r["label"] for r in rows] == ["coop_tuned", "kgcoop_tuned"]
    assert capsys.readouterr().out == "reusing 18 finished run(s) with the same identity from results.json\n"


# names · a learner reads display names in tables and legends; callers still select by the stored label
def test_tables_and_legends_show_display_names_and_select_by_label():
    from dpt.experiments import course
    assert course.name("zeroshot") == "zero-shot CLIP" and course.name("kgcoop") == "KgCoOp"
    assert course.name("coop_tuned") == "CoOp, tuned on validation" and course.name("no_mi") == "dpt without the MI term"
    assert course.name("mi_weight_30") == "dpt, MI weight 30" and course.name("coop [shots=2]") == "CoOp [shots=2]"
    assert course.name("something_new") == "something_new"  # an unknown label is shown as it is, never guessed
    rows = [{"label": label, "dataset": "d", "seed": s, "split": "test", "base": 70.0 + s, "novel": 60.0, "hm": 64.0}
            for label in ("coop", "zeroshot") for s in (1, 2)]
    lines = course.Results(rows, None).table(labels=["zeroshot", "coop"]).splitlines()
    assert lines[1].startswith("zero-shot CLIP ") and lines[2].startswith("CoOp ")  # in the order given, by name
    assert not any(l.startswith(("coop ", "zeroshot ")) for l in lines)


def reading_minutes(path: Path) -> float:
    """The teacher's page's estimate: markdown words / 120 + visible code lines / 20 + 3 per exercise (a check)."""
    cs = cells(path)
    words = sum(len(text(c).split()) for c in cs if c["cell_type"] == "markdown")
    code = [c for c in cs if c["cell_type"] == "code"]
    lines = sum(1 for c in code if not c["metadata"].get("jupyter", {}).get("source_hidden")
                for line in text(c).splitlines() if line.strip())
    return words / 120 + lines / 20 + 3 * sum(text(c).count("course.check(") for c in code)


def test_the_teaching_pages_reading_minutes_follow_the_estimate_and_stay_within_25():
    """docs/teaching.md's reading column is the estimate rounded up to 5 minutes; no notebook is over 25."""
    page = (ROOT / "docs" / "teaching.md").read_text()
    stated = {m[1]: int(m[2]) for m in re.finditer(r"^\| \[(\d\d)\]\([^)]*\)[^|]*\|[^|]*\| (\d+) \|", page, re.M)}
    assert sorted(stated) == [p.stem[:2] for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        minutes = reading_minutes(path)
        assert stated[path.stem[:2]] == 5 * -(-minutes // 5), f"{path.stem}: {minutes:.1f} min"
        assert minutes <= 25, f"{path.stem} reads for about {minutes:.0f} minutes"


def test_write_minutes_changes_only_the_minutes_cells(tmp_path, monkeypatch):
    from dpt.errors import BadInput
    from dpt.experiments import course
    teaching = (course.ROOT / "docs" / "teaching.md").read_text()
    (tmp_path / "docs").mkdir()
    (tmp_path / "notebooks").mkdir()
    for stem in ("00_a", "01_b", "00_setup_and_tour"):
        (tmp_path / "notebooks" / f"{stem}.ipynb").write_text("{}")
    readme = ("intro | 0.3 |\n| [00_a](notebooks/00_a.ipynb) | what you learn, 2 things | 0.3 |\r\n"
              "| [01_b](notebooks/01_b.ipynb) | x | 9.9 |\n")
    (tmp_path / "README.md").write_bytes(readme.encode())
    (tmp_path / "docs" / "teaching.md").write_text(teaching)
    two_cores = {"cpus": 2, "gpu": ""}
    record = {"00_a": {"seconds": 90.0, **two_cores}, "00_setup_and_tour": {"seconds": 600.0, **two_cores},
              "09_removed": {"seconds": 60.0, **two_cores}}
    write = lambda r: (tmp_path / "notebooks" / "run_times.json").write_text(json.dumps(  # noqa: E731
        {"format": "dpt-course-run-times", "profiles": {"miniature-v1": r}}))
    write(record)
    monkeypatch.setattr(course, "ROOT", tmp_path)
    monkeypatch.setattr(course, "RUN_TIMES", tmp_path / "notebooks" / "run_times.json")
    assert course.tables_behind_the_record() == ["README.md", "docs/teaching.md"]  # what `make course` points out
    (tmp_path / "docs" / "teaching.md").rename(tmp_path / "teaching.md")
    with pytest.raises(BadInput, match="no .*teaching.md"):  # before any page is written
        course.write_minutes(tmp_path)
    assert (tmp_path / "README.md").read_bytes().decode() == readme
    (tmp_path / "teaching.md").rename(tmp_path / "docs" / "teaching.md")
    assert course.write_minutes(tmp_path) == ["README.md", "docs/teaching.md"]
    assert course.tables_behind_the_record() == []
    # 00_a's cell only: the line's CRLF kept, 01_b (no record) and the line that is not a row untouched
    assert (tmp_path / "README.md").read_bytes().decode() == readme.replace("things | 0.3", "things | 1.5")
    row = next(line for line in teaching.splitlines() if line.startswith("| [00]"))
    assert (tmp_path / "docs" / "teaching.md").read_text() == teaching.replace(row, row.rsplit("| ", 1)[0] + "| 10.0 |")
    assert course.write_minutes(tmp_path) == []
    assert course.recorded_minutes(json.loads((tmp_path / "notebooks" / "run_times.json").read_text())["profiles"],
                                   tmp_path / "notebooks") == {"00_a": "1.5", "00_setup_and_tour": "10.0"}
    write({"00_a": {"seconds": 30.0, "cpus": 16, "gpu": ""}})  # the captions say 2 CPU cores: refused
    with pytest.raises(BadInput, match="another machine"):
        course.write_minutes(tmp_path)
    assert course.tables_behind_the_record() == []  # and not pointed out


def test_the_course_never_pools_two_identities_of_one_label():
    """An ablation redefined after it ran keeps its old rows in the file: the course shows the current definition's
    runs only, and refuses a label whose runs it cannot tell apart."""
    from dpt.errors import BadInput
    from dpt.experiments.course import current_runs

    def row(label, run_id, **cfg):
        return {"label": label, "dataset": "d", "seed": 1, "split": "val", "run_id": run_id,
                "identity": {"method_config": {"mixup": "within", **cfg}}}
    old, new = row("mixup_within", "a", mixup_in_mi=True), row("mixup_within", "b", mixup_in_mi=False)
    assert current_runs([old, new, row("dpt", "c")], "f.json") == [new, row("dpt", "c")]
    with pytest.raises(BadInput, match="two identities"):
        current_runs([row("mine", "a"), row("mine", "b")], "f.json")
