"""The speed benchmark's two ways must train the same thing: same losses step by step, same accuracy."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("train_speed", ROOT / "benchmarks" / "train_speed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_reference_and_dpt_reach_the_same_results(bench):
    r = bench.run_backbone("miniclip", steps=12, repeats=1)  # 12 steps cross an epoch boundary (10 per epoch)
    ref, fast = r["rows"]
    assert (ref["mode"], fast["mode"]) == ("reference", "dpt")
    assert r["equal"]["ok"], r["equal"]
    assert r["equal"]["max_rel_loss_gap"] < 1e-4
    assert ref["accuracy"] == fast["accuracy"]
    assert ref["final_loss"] == pytest.approx(fast["final_loss"], rel=1e-4)
    # the reference pushes the whole context through the text encoder; dpt cuts after the longest EOT
    assert ref["text_tokens"] == 32 and fast["text_tokens"] < 16


def test_trainer_stops_after_max_steps(bench, miniclip):
    import torch
    from dpt.methods import MethodConfig, build_method
    from dpt.trainer import TrainConfig, train
    m = build_method("coop", miniclip, ["red", "blue", "green"], "a photo of a {}.", MethodConfig())
    history = train(m, torch.randn(20, 128), torch.randint(0, 3, (20,)), TrainConfig(epochs=5, batch_size=8),
                    progress=False, max_steps=4)
    assert [h["step"] for h in history] == [0, 1, 2, 3]


def test_batched_cocoop_equals_the_per_image_loop(bench, miniclip):
    """Same text features, logits and gradients, also when the prompts are split into several chunks."""
    import torch
    from dpt.methods import CoCoOp, MethodConfig
    names = ["red balloon", "a very light blue balloon", "green bead"]  # EOT positions differ per class
    x = torch.nn.functional.normalize(torch.randn(5, miniclip.embed_dim), dim=-1)
    y = torch.tensor([0, 1, 2, 0, 1])
    grads = {}
    for cls in (bench.PerImageCoCoOp, CoCoOp):
        torch.manual_seed(0)
        m = cls(miniclip, names, "a photo of a {}.", MethodConfig())
        m.max_prompts = 7  # two images' prompts per chunk: 3 chunks for 5 images
        loss, _ = m.loss(x, y)
        loss.backward()
        grads[cls.__name__] = (loss.detach(), m.prompt_learner.ctx.grad.clone(), m.meta_net[0].weight.grad.clone())
    for a, b in zip(grads["PerImageCoCoOp"], grads["CoCoOp"]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_cocoop_benchmark_reaches_the_same_losses(bench):
    r = bench.run_cocoop("miniclip", steps=3, repeats=1)
    assert [row["mode"] for row in r["rows"]] == ["reference", "dpt"] and r["equal"]["ok"], r["equal"]


@pytest.mark.slow
def test_the_gpu_check_runs_at_a_small_scale_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.py as a lent GPU would run it (fp16 with loss scaling and bf16, the trainer's own step,
    a resumed fp16 run), at a size a CPU finishes in seconds: step time and peak memory per method and precision,
    the resume's verdict and the feature-encoding throughput land in its JSON. CoOp only: emulated fp16 on this CPU
    takes minutes for ViT-B/16's image tower."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "speed_gpu.json"
    subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--small", "--device", "cpu", "--methods", "coop",
                    "--precisions", "fp16", "bf16", "--out", str(out)], cwd=root, check=True, capture_output=True,
                   text=True, timeout=600)
    doc = json.loads(out.read_text())
    assert doc["device"] == "cpu" and doc["classes"] == 10 and set(doc["methods"]) == {"coop fp16", "coop bf16"}
    assert all(m["ms_per_step"] > 0 and m["steps_timed"] == 1 for m in doc["methods"].values())
    assert doc["resume"]["same"] and doc["resume"]["steps"] > 0
    assert doc["encode"]["images_per_sec"] > 0 and doc["minutes"] >= 0
