"""Every command block of the README's real-path and learned-prompt sections, run as written on fixtures.

The real path's blocks run on tiny CoOp-layout folders of all 11 benchmarks and ImageNet's variants, with the
README's own variables (`~/weights/...`, `~/data`: HOME is the test's folder) and the variables a CPU needs,
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
pytestmark = pytest.mark.slow

NARROW_VIT = '''
import open_clip.factory as _f
_f._MODEL_CONFIGS["ViT-B-16"] = {"embed_dim": 64, "vision_cfg": {"image_size": 224, "layers": 12, "width": 64,
    "patch_size": 16, "head_width": 32}, "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64,
    "heads": 2, "layers": 12}}
'''


def section(title: str) -> str:
    start = README.index(f"\n## {title}")
    return README[start:README.index("\n## ", start + 4)]


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


def test_the_real_path_block_runs_as_written(tmp_path):
    [script] = blocks(section("The real path"), "bash")
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


def test_the_learned_prompt_blocks_run_as_written(tmp_path):
    """The bash block, then each Python block in one interpreter (as a reader pastes them, in order), in a folder
    that holds the reader's own images (my_images/, some.png)."""
    from dpt.data import load_miniature
    text = section("Using a learned prompt")
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
