"""A training run's folder: its per-step log (`log.jsonl`) and a checkpoint per epoch that records the run's
identity, so that a resume with another configuration is refused; locked, so two processes never train one run."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import torch

from .config import flatten
from .errors import BadInput, DptError, cause
from .files import append_lines, atomic_save, atomic_write_text, exclusive, ours_by_path
from .weights import tensors


class ConfigMismatch(DptError, ValueError):
    pass


class CorruptCheckpoint(BadInput):
    pass


@contextmanager
def run_folder(out_dir, identity: dict):
    """The run's folder, locked while it trains (None: a run that keeps nothing on disk)."""
    if out_dir is None:
        yield RunFolder(None, identity)
        return
    with exclusive(Path(out_dir), busy=f"another process is training this run in {out_dir} (its folder is locked); "
                                       "wait for it, or give this one another out_dir"):
        yield RunFolder(out_dir, identity)


class RunFolder:
    def __init__(self, out_dir, identity: dict):
        self.out, self.identity = (Path(out_dir) if out_dir is not None else None), identity

    checkpoint = property(lambda self: self.out / "checkpoint.pt")
    log = property(lambda self: self.out / "log.jsonl")

    def start(self, resume: bool, method, opt, critic_opt, scaler) -> tuple[int, list[dict]]:
        """(first epoch to train, the log so far): from the checkpoint with `resume`, else from nothing."""
        if self.out is None:
            return 0, []
        self.out.mkdir(parents=True, exist_ok=True)
        if not (resume and self.checkpoint.is_file()):
            self.log.unlink(missing_ok=True)
            return 0, []
        state = self._read(method.hand.device)
        try:
            method.load_state_dict(state["method"])
            opt.load_state_dict(state["optimizer"])
            if critic_opt is not None:
                critic_opt.load_state_dict(state["critic_optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise CorruptCheckpoint(f"cannot resume from {self.checkpoint}: its state does not fit this "
                                    f"{method.name} ({cause(e)}). To start this run fresh, delete it (rm "
                                    f"{self.checkpoint}) and run again.") from None
        if scaler.is_enabled() and state.get("scaler"):  # fp16: resume at the scale (and growth count) reached
            scaler.load_state_dict(state["scaler"])
        # the log rewritten to the checkpoint's history: drops steps logged after it (a kill between writes)
        atomic_write_text(self.log, "".join(json.dumps(r) + "\n" for r in state["history"]), kind="training log",
                          own=ours_by_path)
        return state["epoch"] + 1, state["history"]

    def _read(self, device) -> dict:
        path, fresh = self.checkpoint, f"To start this run fresh, delete it (rm {self.checkpoint}) and run again."
        try:
            state = torch.load(path, map_location=device, weights_only=False)
        except Exception as e:
            raise CorruptCheckpoint(f"cannot resume from {path}: the file is unreadable ({type(e).__name__}). "
                                    f"{fresh}") from e
        keys = {"identity", "method", "optimizer", "epoch", "history"}
        missing = sorted(keys - set(state)) if isinstance(state, dict) else sorted(keys)
        if missing or not tensors(state["method"]):
            what = f"without {', '.join(missing)}" if missing else "whose method state is not all tensors"
            raise CorruptCheckpoint(f"cannot resume from {path}: it is not a dpt training checkpoint (a "
                                    f"{type(state).__name__} {what}). {fresh}")
        if state["identity"] != self.identity:
            old, new = flatten(state["identity"]), flatten(self.identity)
            changed = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
                                if old.get(k) != new.get(k))
            raise ConfigMismatch(f"refusing to resume {path}: the run's configuration changed ({changed}). Use a new "
                                 "out_dir, or resume=False to start afresh.")
        return state

    def end_epoch(self, epoch: int, epoch_log: list[dict], history: list[dict], method, opt, critic_opt,
                  scaler) -> None:
        """The epoch's steps appended to the log, then the checkpoint replaced (atomically) by the state now."""
        if self.out is None:
            return
        append_lines(self.log, [json.dumps(r) + "\n" for r in epoch_log], kind="training log", own=ours_by_path)
        atomic_save({"identity": self.identity, "method": method.state_dict(), "optimizer": opt.state_dict(),
                     "critic_optimizer": critic_opt.state_dict() if critic_opt else None,
                     "scaler": scaler.state_dict(), "epoch": epoch, "history": history}, self.checkpoint,
                    kind="checkpoint", own=ours_by_path)
