"""Where the runs of a grid execute: in this process (`local`, the default) or as Ray tasks (`ray`).

Both take jobs whose features are already encoded and yield (job, result, where it ran) as runs finish;
the grid stores each row as it arrives, so the two engines write the same records. Ray is an
optional extra (`pip install -e ".[ray]"`): on one machine it starts a local Ray; on a cluster pass
the head's address (`ray start --head` there, then `--address HOST:PORT`). dpt must be installed on
every node; each worker loads the backbone once and checks that its weights have the fingerprint
the driver recorded.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import platform
import socket
import time

from ..errors import BadInput, DptError
from ..run import run_trial


def timed(fn, *args, **kw):
    """fn's result, and where and how long it ran (for the row's provenance)."""
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, {"seconds": round(time.perf_counter() - t0, 1), "pid": os.getpid(), "host": platform.node()}


class LocalEngine:
    name = "local"

    def run(self, jobs, profile, backbone, progress: bool = True):
        for job in jobs:
            out, where = timed(run_trial, backbone, job.run, job.inputs, job.out_dir, resume=True,
                               progress=progress, run_info=job.run_info)
            yield job, out, where


_WORKER_BACKBONES: dict = {}


def _ray_trial(profile, weights: str, run, inputs, evaluation, out_dir, run_info):
    """One run inside a Ray worker (the backbone is loaded once per worker process)."""
    from ..backbones import load_backbone, weights_fingerprint
    from .saved import prompt_payload
    key = (profile.backbone, profile.pretrained, profile.device)
    if key not in _WORKER_BACKBONES:
        _WORKER_BACKBONES[key] = load_backbone(profile.backbone, pretrained=profile.pretrained, device=profile.device)
    backbone = _WORKER_BACKBONES[key]
    if weights_fingerprint(backbone) != weights:
        raise DptError(f"a Ray worker loaded other weights for {profile.backbone} ({profile.pretrained}) than the "
                       "driver: every node must see the same checkpoint file or open_clip cache")
    inputs.evaluation = evaluation
    if getattr(inputs.train, "encodes", False):  # online augmentation: images are encoded by this worker's backbone
        inputs.train.encoder = backbone
    out, where = timed(run_trial, backbone, run, inputs, out_dir, resume=True, progress=False, run_info=run_info)
    model = out.pop("model")
    out["payload"] = prompt_payload(model) if model.learns else None  # the driver writes --save-prompts files
    return out, where


class RayEngine:
    """Runs each job as a Ray task (one CPU, or `gpus_per_trial` of a GPU on CUDA)."""
    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, gpus_per_trial: float = 0.25):
        if importlib.util.find_spec("ray") is None:
            raise DptError('the Ray engine needs Ray: pip install -e ".[ray]" (or pip install ray), or use '
                           "--engine local")
        if num_cpus is not None and num_cpus < 1:
            raise BadInput(f"--num-cpus must be at least 1, got {num_cpus}")
        if address and address != "auto":
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise BadInput(f"--address {address!r} is not HOST:PORT (the head's `ray start --head` prints it)")
            try:  # a head that is not there makes ray.init wait for minutes without a word
                socket.create_connection((host, int(port)), timeout=3).close()
            except OSError as e:
                raise BadInput(f"nothing answers at --address {address} ({e.strerror or e}); start the head with "
                               "`ray start --head` there, or drop --address to start a local Ray") from None
        self.address, self.num_cpus, self.gpus_per_trial = address, num_cpus, gpus_per_trial

    def run(self, jobs, profile, backbone, progress: bool = True):
        import ray
        if not jobs:
            return
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address, num_cpus=None if self.address else self.num_cpus,
                     include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        try:
            gpus = self.gpus_per_trial if profile.device.startswith("cuda") else 0
            task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_ray_trial)
            shared, pending = {}, {}
            for job in jobs:
                evaluation = job.inputs.evaluation
                if id(evaluation) not in shared:  # once per evaluation (dataset), shared by its trials
                    shared[id(evaluation)] = ray.put(evaluation)
                ref = shared[id(evaluation)]
                light = dataclasses.replace(job.inputs, evaluation=None)
                pending[task.remote(profile, job.identity["weights"], job.run, light, ref, job.out_dir,
                                    job.run_info)] = job
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(done[0])
                out, where = ray.get(done[0])
                yield job, out, where
        finally:
            if started:
                ray.shutdown()
