"""The README's Python example and every command block of the real-path and learned-prompt docs, run as written.

The README's example trains and scores three methods on the shipped miniature and must print the committed rows.

The real path's blocks run on tiny CoOp-layout folders of all 11 benchmarks and ImageNet's variants, with the
docs' own variables (`~/weights/...`, `~/data`: HOME is the test's folder) and the variables a CPU needs,
which the commands read as the notebooks do (DPT_DEVICE=cpu, DPT_EPOCHS, DPT_SHOTS). To fit CI, open_clip's
`ViT-B-16` is given a narrow config in the commands' processes (sitecustomize: 12 layers, width 64), so the
commands, recipes and protocol are exercised exactly, on a model that is cheap to run; ViT-B-16 itself runs in
tests/test_real_path.py and tests/test_course_real.py. The learned-prompt blocks (bash, then Python) run on the
shipped miniature."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_all_benchmarks

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"

NARROW_VIT = '''
import open_clip.factory as _f
_f._MODEL_CONFIGS["ViT-B-16"] = {"embed_dim": 64, "vision_cfg": {"image_size": 224, "layers": 12, "width": 64,
    "patch_size": 16, "head_width": 32}, "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64,
    "heads": 2, "layers": 12}}
'''


def doc(name: str) -> str:
    return (DOCS / name).read_text()


def section(title: str, text: str = README) -> str:
    """From the `## title` heading to the next `## ` heading (or the end of the page)."""
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 4)
    return text[start:] if end < 0 else text[start:end]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def run_bash(script: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=1800)
    assert out.returncode == 0, f"{script}\n--- stdout\n{out.stdout[-3000:]}\n--- stderr\n{out.stderr[-3000:]}"
    return out


def environment(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DPT_") or k == "DPT_CACHE"}
    return {**env, "HOME": str(home), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
            "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "2"), **{k: str(v) for k, v in extra.items()}}


@pytest.mark.slow
def test_the_real_path_block_runs_as_written(tmp_path):
    [script] = blocks(section("The real path", doc("real-clip.md")), "bash")
    make_all_benchmarks(tmp_path / "data", per_split={"train": 16, "val": 1, "test": 2})  # the curves go to 16
    spy = tmp_path / "narrow"
    spy.mkdir()
    (spy / "sitecustomize.py").write_text(NARROW_VIT)
    env = environment(tmp_path, PYTHONPATH=os.pathsep.join([str(spy), str(ROOT)]), DPT_DEVICE="cpu", DPT_EPOCHS=2,
                      DPT_SHOTS=2, DPT_CACHE=tmp_path / "cache")
    (tmp_path / "weights").mkdir()
    subprocess.run([sys.executable, "-c", "import torch, open_clip; torch.save(open_clip.create_model('ViT-B-16')"
                    f".state_dict(), {str(tmp_path / 'weights' / 'open_clip_pytorch_model.bin')!r})"],
                   env=env, check=True, timeout=300)
    work = tmp_path / "work"
    work.mkdir()
    out = run_bash(script, work, env)
    assert "all 15 found" in out.stdout
    import json
    rows = {stem: json.loads((work / "results" / "real" / f"{stem}.json").read_text())["rows"]
            for stem in ("base2novel", "transfer", "shots")}
    assert len({(r["label"], r["dataset"], r["seed"]) for r in rows["base2novel"]}) == 9 * 11 * 3
    assert all(r["identity"]["train"]["epochs"] == 2 for r in rows["base2novel"] if r["label"] != "zeroshot")
    assert {r["target"] for r in rows["transfer"]} == {"ImageNet", "ImageNetV2", "ImageNetSketch", "ImageNetA",
                                                      "ImageNetR", "Caltech101", "OxfordPets", "StanfordCars",
                                                      "Flowers102", "Food101", "FGVCAircraft", "SUN397", "DTD",
                                                      "EuroSAT", "UCF101"}
    assert {r["shots"] for r in rows["shots"] if r["label"] != "zeroshot"} == {1, 2, 4, 8, 16}


@pytest.mark.slow
def test_the_learned_prompt_blocks_run_as_written(tmp_path):
    """The bash block, then each Python block in one interpreter (as a reader pastes them, in order), in a folder
    that holds the reader's own images (my_images/, some.png)."""
    from dpt.data import load_miniature
    text = doc("learned-prompts.md")
    [script] = blocks(text, "bash")
    ds = load_miniature("mini_toys", per_class={"train": 1, "val": 1, "test": 1})
    (tmp_path / "my_images").mkdir()
    for i in (0, 13):
        ds.load_image(ds.test[i]).save(tmp_path / "my_images" / f"img{i}.png")
    ds.load_image(ds.test[1]).save(tmp_path / "some.png")
    env = environment(tmp_path, PYTHONPATH=str(ROOT), DPT_CACHE=tmp_path / "cache")
    out = run_bash(script, tmp_path, env)
    assert out.stdout.count("img0.png") == 1 and "head of 12 classes written to head.pt" in out.stdout
    code = "\n".join(blocks(text, "python")) + "\nprint('predicted', predicted)\n"
    py = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=600)
    assert py.returncode == 0, py.stderr[-3000:]
    assert (tmp_path / "mine.pt").is_file() and "predicted ['" in py.stdout


def committed_row(label: str, dataset: str, seed: int) -> dict:
    import json
    rows = json.loads((ROOT / "results" / "miniature-v1" / "base2novel.json").read_text())["rows"]
    [row] = [r for r in rows if r["label"] == label and r["dataset"] == dataset and r["seed"] == seed
             and r["identity"]["split"] == "test" and r["identity"]["shots"] in (None, 16)
             and (r["identity"]["train"] is None or r["identity"]["train"]["epochs"] == 30)]
    return row


def test_the_python_example_runs_as_written_and_prints_the_committed_rows(tmp_path):
    """The README's one Python block, pasted into a fresh interpreter in an empty folder."""
    [code] = blocks(section("Train and score a method in Python"), "python")
    assert len(code.strip().splitlines()) <= 10
    env = environment(tmp_path, PYTHONPATH=str(ROOT), DPT_CACHE=tmp_path / "cache")
    py = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=600)
    assert py.returncode == 0, py.stderr[-3000:]
    printed = {line.split()[0]: [float(x) for x in line.split()[2::2]] for line in py.stdout.splitlines()}
    assert list(printed) == ["zeroshot", "coop", "dpt"], py.stdout
    for method, numbers in printed.items():
        row = committed_row(method, "mini_paints", 1)
        assert numbers == [row["base"], row["novel"], row["hm"]], (method, numbers, row["base"], row["novel"])
        assert f"{row['base']:.2f} / {row['novel']:.2f}" in README, method  # as the sentence under the block says


def test_the_readme_real_clip_commands_are_the_tested_ones():
    """The README's short real-CLIP block is the start of the docs' block that runs as written (above)."""
    [short] = blocks(section("Real CLIP in a few commands"), "bash")
    [full] = blocks(section("The real path", doc("real-clip.md")), "bash")
    commands = lambda s: [l for l in s.replace("\\\n", " ").splitlines() if l.strip() and not l.startswith("#")]
    assert commands(short) == commands(full)[:len(commands(short))]


def minutes_a_table_may_show(tmp: Path) -> list[dict[str, str]]:
    """The record as it is here and, in a git checkout, as it was committed: a learner's own `make course`, timed on
    their machine, leaves `make test` green."""
    from dpt.experiments.course import read_run_times, recorded_minutes
    here = [recorded_minutes(read_run_times())]
    try:
        git = subprocess.run(["git", "show", "HEAD:notebooks/run_times.json"], cwd=ROOT, capture_output=True, text=True)
    except OSError:  # no git: the record here is the only one
        return here
    if git.returncode:
        return here
    path = tmp / "run_times.json"
    path.write_text(git.stdout)
    return here + [recorded_minutes(read_run_times(path))]


def test_the_course_tables_show_the_recorded_minutes(tmp_path):
    from dpt.experiments.course import MINUTES_TABLES, shown_minutes
    stems, allowed = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}, minutes_a_table_may_show(tmp_path)
    for table in MINUTES_TABLES:
        shown = shown_minutes((ROOT / table).read_text(), table)
        assert set(shown) == stems, table
        assert shown in allowed, f"{table}: `python -m dpt course --write-minutes` copies the record in"


def test_the_results_table_is_the_stored_rows_beside_the_published_numbers():
    """Each row of the README's results table: the mean over seeds of the committed test rows on the three datasets,
    the HM's paired-bootstrap interval, and the method's published real-CLIP HM (dpt has none to quote)."""
    from dpt.experiments.course import Results
    from dpt.experiments.published import published
    from dpt.experiments.store import read_rows
    path = ROOT / "results" / "miniature-v1" / "base2novel.json"
    stored = Results([r for r in read_rows(path) if r["split"] == "test"], path).select(
        datasets=["mini_toys", "mini_paints", "mini_stamps"])
    table = re.findall(r"^\| (\w+) \| ([\d.]+) \| ([\d.]+) \| \**([\d.]+)\** \[([\d.]+), ([\d.]+)\] \| ([\d.]+|—) \|$",
                       section("Results on the miniature"), re.M)
    assert [m for m, *_ in table] == ["dpt", "kgcoop", "promptsrc", "prograd", "zeroshot", "coop", "cocoop", "maple",
                                      "ivlp"]
    for method, base, novel, hm, low, high, real in table:
        mean, iv = stored.mean(method), stored._bootstrap().interval(method, "average", "hm")
        assert [base, novel, hm] == [f"{mean[k]:.2f}" for k in ("base", "novel", "hm")], method
        assert [low, high] == [f"{iv.lo:.1f}", f"{iv.hi:.1f}"], method
        assert real == ("—" if method == "dpt" else f"{published(method)['hm']:.2f}"), method


def pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]


def test_the_readme_is_a_front_door():
    assert len(README.splitlines()) <= 200


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_local_link_and_figure_resolves(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if "://" in target or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.name} links to a missing {target}"


def test_no_issue_numbers_or_rounds_in_the_docs_or_the_course_text():
    """The pages state the project as it is; history lives in CHANGELOG.md, described by what changed."""
    import json
    words = re.compile(r"\bissues? #?\d|#\d|\brounds?\b", re.I)
    texts = {p.name: p.read_text() for p in pages() + [ROOT / "notebooks" / "README.md"]}
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        texts[nb.name] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    found = {name: words.findall(text) for name, text in texts.items() if words.search(text)}
    assert not found, found
