import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dpt.methods import MethodConfig, build_method
from dpt.checkpoint import ConfigMismatch
from dpt.trainer import NonFiniteLoss, TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
CLASSES = [f"{c} star" for c in ("red", "blue", "green", "yellow")]


def _data(bb, n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(n, bb.embed_dim, generator=g), dim=-1)
    return x, torch.arange(n) % len(CLASSES)


@pytest.mark.parametrize("method", ["coop", "kgcoop", "cocoop", "dpt"])
def test_same_seed_same_numbers(mini_random, method):
    x, y = _data(mini_random)
    cfg = TrainConfig(epochs=2, batch_size=8, seed=3)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = build_method(method, mini_random, CLASSES, "a photo of a {}.")
        hist = train(m, x, y, cfg, progress=False)
        runs.append(([h["loss"] for h in hist], m.text_features().detach()))
    assert runs[0][0] == runs[1][0]
    torch.testing.assert_close(runs[0][1], runs[1][1], rtol=0, atol=0)
    assert runs[0][0][0] != runs[0][0][-1]  # something was learned


def test_nan_loss_stops_with_step_and_last_values(mini_random):
    x, y = _data(mini_random)
    m = build_method("coop", mini_random, CLASSES, "a photo of a {}.")
    orig, calls = m.loss, []

    def poisoned(*a):  # the third step's loss blows up
        calls.append(1)
        loss, terms = orig(*a)
        return (loss * float("nan"), terms) if len(calls) == 3 else (loss, terms)

    m.loss = poisoned
    with pytest.raises(NonFiniteLoss, match=r"epoch 0, step 2: .*Last finite values: \{'epoch': 0, 'step': 1"):
        train(m, x, y, TrainConfig(epochs=1, batch_size=8, warmup_epochs=0), progress=False)


def test_resume_with_a_different_config_is_refused(mini_random, tmp_path):
    x, y = _data(mini_random)
    m = build_method("coop", mini_random, CLASSES, "a photo of a {}.")
    train(m, x, y, TrainConfig(epochs=2, batch_size=8), out_dir=tmp_path, progress=False, stop_after_epoch=0)
    m2 = build_method("coop", mini_random, CLASSES, "a photo of a {}.")
    with pytest.raises(ConfigMismatch, match=r"\(train.lr: 0.002 -> 0.01\)"):
        train(m2, x, y, TrainConfig(epochs=2, batch_size=8, lr=0.01), out_dir=tmp_path, resume=True, progress=False)


@pytest.mark.parametrize("damage", ["a string in the method state", "a state of another shape"])
def test_a_checkpoint_whose_state_does_not_fit_is_one_line(mini_random, tmp_path, damage):
    """A checkpoint with the right keys and identity, but a method state that is not tensors or not this method's:
    refused in one line that says how to start afresh, never a raw load_state_dict traceback."""
    from dpt.checkpoint import CorruptCheckpoint
    x, y = _data(mini_random)
    cfg = TrainConfig(epochs=2, batch_size=8)
    train(build_method("coop", mini_random, CLASSES, "a photo of a {}."), x, y, cfg, out_dir=tmp_path, progress=False,
          stop_after_epoch=0)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    key = next(iter(state["method"]))
    state["method"][key] = "not a tensor" if damage.startswith("a string") else torch.zeros(3)
    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.raises(CorruptCheckpoint, match=r"^cannot resume from .*rm .*checkpoint.pt\) and run again\.$"):
        train(build_method("coop", mini_random, CLASSES, "a photo of a {}."), x, y, cfg, out_dir=tmp_path,
              resume=True, progress=False)


SCRIPT = """
import sys, json, time, torch, torch.nn.functional as F
torch.set_num_threads(1)
from dpt.backbones import load_backbone
from dpt.methods import build_method
from dpt.trainer import TrainConfig, train
torch.manual_seed(0)
bb = load_backbone("miniclip", pretrained=None)
g = torch.Generator().manual_seed(0)
x = F.normalize(torch.randn(32, bb.embed_dim, generator=g), dim=-1); y = torch.arange(32) % 4
torch.manual_seed(1)
m = build_method("dpt", bb, CLASSES_HERE, "a photo of a {}.")
slow = sys.argv[2] == "slow"
if slow:  # slow each step down so the parent can kill us mid-run
    orig = m.loss
    m.loss = lambda *a: (time.sleep(0.15), orig(*a))[1]
import warnings; warnings.simplefilter("ignore")  # fp16 on a CPU without fp16 units warns that it is emulated
hist = train(m, x, y, TrainConfig(epochs=6, batch_size=8, seed=2, precision=sys.argv[3]), out_dir=sys.argv[1],
             resume=True, progress=False)
print(json.dumps({"losses": [h["loss"] for h in hist], "scales": [h.get("loss_scale") for h in hist],
                  "text": m.text_features().detach().flatten()[:20].tolist()}))
""".replace("CLASSES_HERE", repr(CLASSES))


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_killed_run_resumes_to_the_same_result(tmp_path, precision):
    """fp16 too: the loss scaler's state (scale, growth count) is in the checkpoint, so the resumed run skips and
    scales exactly the steps the uninterrupted one does."""
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    ref = subprocess.run([sys.executable, str(script), str(tmp_path / "ref"), "fast", precision], capture_output=True,
                         text=True, check=True, env=ENV)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "killed"), "slow", precision],
                            stdout=subprocess.PIPE, env=ENV)
    ckpt = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until at least two epochs are checkpointed, then kill
        if ckpt.exists() and sum(1 for _ in open(tmp_path / "killed" / "log.jsonl")) >= 8:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    done_before = sum(1 for _ in open(tmp_path / "killed" / "log.jsonl"))
    assert 0 < done_before < 24, "the run must have been killed mid-way"
    resumed = subprocess.run([sys.executable, str(script), str(tmp_path / "killed"), "fast", precision],
                             capture_output=True, text=True, check=True, env=ENV)
    a, b = json.loads(ref.stdout.splitlines()[-1]), json.loads(resumed.stdout.splitlines()[-1])
    assert a["losses"] == b["losses"]
    assert a["scales"] == b["scales"]
    if precision == "fp16":
        assert len(set(a["scales"])) > 1, "the scale should move (skipped first steps), or resuming it proves nothing"
    assert a["text"] == b["text"]


def test_mi_critic_has_its_own_optimiser_and_learns(miniclip):
    """The critic is trained by Adam, not the prompt's SGD (whose warm-up lr of 1e-5 left it untrained)."""
    from dpt.trainer import build_critic_optimizer, build_optimizer
    x, y = _data(miniclip)
    torch.manual_seed(0)
    m = build_method("dpt", miniclip, CLASSES, "a photo of a {}.", MethodConfig(critic="separable", mi_weight=1.0))
    cfg = TrainConfig(epochs=10, batch_size=8, seed=1)
    sgd_params = {id(p) for g in build_optimizer(m, cfg).param_groups for p in g["params"]}
    critic_params = {id(p) for p in m.mi.parameters()}
    assert critic_params and not sgd_params & critic_params
    assert {id(p) for g in build_critic_optimizer(m).param_groups for p in g["params"]} == critic_params
    hist = train(m, x, y, cfg, progress=False)
    # under the shared SGD this stayed at ~0.001 nats; with Adam it climbs from 0 within 40 steps
    assert hist[-1]["mi"] > 0.2 and hist[-1]["mi"] > hist[0]["mi"] + 0.2, (hist[0]["mi"], hist[-1]["mi"])


def test_an_epoch_without_a_step_ends_cleanly(mini_random, tmp_path):
    """max_steps=0 runs no step (no division by an empty epoch), and a resume past max_steps trains nothing more."""
    x, y = _data(mini_random)
    m = build_method("coop", mini_random, CLASSES, "a photo of a {}.")
    before = m.prompt_learner.ctx.detach().clone()
    assert train(m, x, y, TrainConfig(epochs=2, batch_size=8), progress=False, max_steps=0) == []
    assert torch.equal(before, m.prompt_learner.ctx.detach())
    cfg = TrainConfig(epochs=3, batch_size=8)
    first = train(m, x, y, cfg, out_dir=tmp_path, progress=False, max_steps=4)
    assert len(first) == 4
    again = train(m, x, y, cfg, out_dir=tmp_path, resume=True, progress=False, max_steps=4)
    assert again == first
