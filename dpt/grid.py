"""A grid of base-to-novel runs: validate everything, reuse what is stored, run the rest on an engine.

    rows = run_grid(trials, profile, store)          # in-process (the default)
    rows = run_grid(trials, profile, store, engine=RayEngine())

Order of work, so that bad input stops before any of it: configs, results file, datasets, backbone,
identities (finished runs are reused from the store), features (once per dataset, which reads every
image), then training. Every returned row carries its identity; rows are stored as they finish.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .backbones import load_backbone
from .config import Profile, check
from .data import check_base_to_novel, load_dataset, subsample_classes
from .evaluate import RunConfig, eval_features, run_info, trial_inputs
from .features import image_features
from .identity import provenance, run_id, run_identity
from .methods import METHODS, MethodConfig, check_method
from .store import ResultsStore


@dataclass
class Trial:
    """One run of the grid: `label` names its row (the method, or an ablation's tag)."""
    method: str
    dataset: str
    seed: int
    label: str = ""
    method_overrides: dict = field(default_factory=dict)

    def __post_init__(self):
        self.label = self.label or self.method


def grid(methods, datasets, seeds, label: str | None = None, method_overrides: dict | None = None) -> list[Trial]:
    return [Trial(m, d, s, label or m, dict(method_overrides or {})) for d in datasets for m in methods for s in seeds]


@dataclass
class Job:
    """A trial ready to run: its config, identity and inputs (features already encoded)."""
    trial: Trial
    run: RunConfig
    run_id: str
    identity: dict
    inputs: object  # evaluate.TrialInputs
    out_dir: Path | None
    run_info: dict  # recorded in the run's checkpoint (evaluate.run_info)


def plan_runs(trials: list[Trial], profile: Profile, shots: int, split: str, train_overrides: dict) -> list[RunConfig]:
    """Every trial's RunConfig, validated (unknown or ill-typed options stop here)."""
    check(split in ("val", "test"), f"split must be val or test, got {split!r}")
    check(shots >= 1, f"shots must be at least 1, got {shots}")
    check(bool(trials), "nothing to run: give at least one method, dataset and seed")
    runs = []
    for t in trials:
        check_method(t.method)
        runs.append(RunConfig(method=t.method, shots=shots, train=profile.train_config(t.method, t.seed, train_overrides),
                              method_cfg=MethodConfig.from_dict(t.method_overrides), eval_split=split))
    return runs


def run_grid(trials: list[Trial], profile: Profile, store: ResultsStore, *, shots: int | None = None,
             split: str = "test", train_overrides: dict | None = None, data_root=None, download: bool = False,
             cache_dir=None, runs_dir=None, engine=None, progress: bool = True) -> list[dict]:
    """Run (or reuse) every trial; returns one row per trial, in trial order."""
    from .engines import LocalEngine
    engine = engine or LocalEngine()
    shots = shots or profile.shots
    runs = plan_runs(trials, profile, shots, split, train_overrides or {})
    datasets = {name: load_dataset(name, root=data_root, download=download) for name in dict.fromkeys(t.dataset for t in trials)}
    for name, ds in datasets.items():
        check_base_to_novel(ds, split, needs_train=any(METHODS[t.method].learns for t in trials if t.dataset == name))
    check(not profile.device.startswith("cuda") or torch.cuda.is_available(),
          f"device {profile.device!r} asked for, but this machine has no CUDA GPU; pass --device cpu")
    backbone = load_backbone(profile.backbone, pretrained=profile.pretrained, device=profile.device)
    rows: list[dict | None] = [None] * len(trials)
    pending = []
    stored_rows = {r["run_id"]: r for r in store.rows()}
    for i, (t, run) in enumerate(zip(trials, runs)):
        identity = run_identity(run, datasets[t.dataset], backbone, profile.device)
        rid = run_id(identity)
        stored = stored_rows.get(rid)
        if stored is not None:  # the same identity: the same number, whichever label stored it
            rows[i] = {**stored, "label": t.label}
            if stored["label"] != t.label:
                store.add(rows[i])
        else:
            pending.append((i, t, run, rid, identity))
    if len(pending) < len(trials):
        print(f"reusing {len(trials) - len(pending)} finished run(s) with the same identity from {store.path}")
    jobs = []
    for name in dict.fromkeys(t.dataset for _, t, *_ in pending):  # features once per dataset, before any training
        ds = datasets[name]
        mine = [p for p in pending if p[1].dataset == name]
        kinds = {METHODS[t.method].encodes_images for _, t, *_ in mine}  # features, and/or images (visual prompts)
        evaluation = {k: eval_features(backbone, ds, split, cache_dir, progress, images=k) for k in sorted(kinds)}
        train = None
        if any(METHODS[t.method].learns and not METHODS[t.method].encodes_images for _, t, *_ in mine):
            train = image_features(backbone, subsample_classes(ds, "base"), "train", cache_dir=cache_dir,
                                   progress=progress)
        for i, t, run, rid, identity in mine:
            out_dir = Path(runs_dir) / f"{t.label}-{name}-seed{t.seed}-{rid}" if runs_dir else None
            inputs = trial_inputs(backbone, ds, run, cache_dir, progress,
                                  evaluation[METHODS[t.method].encodes_images], train)
            jobs.append((i, Job(t, run, rid, identity, inputs, out_dir, run_info(ds, run, backbone))))
    index = {id(job): i for i, job in jobs}
    bar = tqdm(total=len(jobs), desc="runs", disable=not progress or not jobs)
    for job, result, where in engine.run([j for _, j in jobs], profile, backbone, progress):
        row = {"label": job.trial.label, "method": job.run.method, "dataset": job.trial.dataset, "seed": job.trial.seed,
               "shots": job.run.shots, "split": job.run.eval_split, "base": result["base"], "novel": result["novel"],
               "hm": result["hm"], "run_id": job.run_id, "identity": job.identity,
               "provenance": provenance(engine=engine.name, weights_source=backbone.weights, **where)}
        store.add(row)
        rows[index[id(job)]] = row
        bar.update()
        tqdm.write(f"{row['label']:<14} {row['dataset']:<14} seed {row['seed']}: base {row['base']:.2f}  "
                   f"novel {row['novel']:.2f}  HM {row['hm']:.2f}")
    bar.close()
    return rows
