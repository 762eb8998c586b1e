"""A grid of runs: validate everything, reuse what is stored, run the rest on an engine.

    rows = run_grid(trials, profile, store)          # in-process (the default)
    rows = run_grid(trials, profile, store, engine=RayEngine())

Two protocols share it. Base-to-novel (a trial without targets): train on the base half, one row
with base, novel and HM. Transfer (a trial with targets): train on all classes of its dataset (the
source), one row per target with its accuracy; the few-shot curve is transfer onto the source itself.

Order of work, so that bad input stops before any of it: configs, results file, datasets, backbone,
identities (finished runs are reused from the store), features (once per dataset, which reads every
image), then training. Every returned row carries its identity; rows are stored as they finish.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..backbones import load_backbone
from ..config import check
from ..data import check_base_to_novel, check_transfer, load_dataset
from ..evaluate import base_novel_scores
from ..inputs import evaluation_sets, train_split, trial_inputs
from ..methods import METHODS, MethodConfig, build_method, check_method, method_fields
from ..run import RunConfig, run_info
from .bootstrap import pack, row_intervals
from .identity import data_fingerprint, provenance, run_id, run_identity
from .profiles import Profile
from .store import ResultsStore


@dataclass
class Trial:
    """One run of the grid: `label` names its rows (the method, or an ablation's tag). No `targets`:
    base-to-novel on `dataset`; with `targets`: trained on all classes of `dataset`, scored on each target."""
    method: str
    dataset: str
    seed: int
    label: str = ""
    method_overrides: dict = field(default_factory=dict)
    targets: tuple[str, ...] = ()
    shots: int | None = None  # None: the grid's

    def __post_init__(self):
        self.label = self.label or self.method
        self.targets = tuple(self.targets)

    @property
    def classes(self) -> str:
        return "all" if self.targets else "base"


def grid(methods, datasets, seeds, label: str | None = None, method_overrides: dict | None = None,
         targets: tuple[str, ...] = (), shots: int | None = None) -> list[Trial]:
    return [Trial(m, d, s, label or m, dict(method_overrides or {}), targets, shots)
            for d in datasets for m in methods for s in seeds]


@dataclass
class Job:
    """A trial ready to run: its config, identity and inputs (features already encoded)."""
    trial: Trial
    run: RunConfig
    run_id: str
    identity: dict  # of the training run (the rows' identities add their target)
    inputs: object  # evaluate.TrialInputs
    out_dir: Path | None
    run_info: dict  # recorded in the run's checkpoint (evaluate.run_info)


def plan_runs(trials: list[Trial], profile: Profile, shots: int, split: str, train_overrides: dict) -> list[RunConfig]:
    """Every trial's RunConfig, validated (unknown or ill-typed options stop here)."""
    check(split in ("val", "test"), f"split must be val or test, got {split!r}")
    check(bool(trials), "nothing to run: give at least one method, dataset and seed")
    runs = []
    for t in trials:
        check_method(t.method)
        n = shots if t.shots is None else t.shots
        check(isinstance(n, int) and n >= 1, f"shots must be a whole number of at least 1, got {n}")
        runs.append(RunConfig(method=t.method, shots=n, train=profile.train_config(t.method, t.seed, train_overrides),
                              method_cfg=MethodConfig.from_dict(t.method_overrides), eval_split=split,
                              classes=t.classes))
    return runs


def row_identities(trial: Trial, identity: dict, datasets: dict, split: str) -> dict:
    """{target or None: identity} of the rows a trial writes: base-to-novel writes one row with the run's
    identity; transfer one per target, the run's identity plus the target and its data fingerprint."""
    if not trial.targets:
        return {None: identity}
    return {t: {**identity, "target": t, "target_data": data_fingerprint(datasets[t], (split,))} for t in trial.targets}


def make_row(trial: Trial, run: RunConfig, target, identity: dict, result: dict, prov: dict) -> dict:
    """One stored row: the numbers, which test images were right (for paired bootstrap intervals), identity."""
    accuracy, hits = result["accuracy"], result["correct"]
    head = {"label": trial.label, "method": run.method}
    if target is None:
        head.update(dataset=trial.dataset, seed=trial.seed, shots=run.shots, split=run.eval_split,
                    **base_novel_scores(accuracy), ci=row_intervals(hits),
                    correct={half: pack(hits[half]) for half in ("base", "novel")})
    else:
        head.update(source=trial.dataset, target=target, seed=trial.seed,
                    shots=run.shots if METHODS[run.method].learns else None, split=run.eval_split,
                    accuracy=round(accuracy[target], 2), correct=pack(hits[target]))
    return {**head, "run_id": run_id(identity), "identity": identity, "provenance": prov}


def check_datasets(trials: list[Trial], datasets: dict, split: str) -> None:
    """Refuse, before any work, a dataset on which a trial's protocol cannot give a number."""
    for name, ds in datasets.items():
        learns = [t for t in trials if t.dataset == name and METHODS[t.method].learns]
        if any(t.dataset == name and not t.targets for t in trials):
            check_base_to_novel(ds, split, needs_train=any(not t.targets for t in learns))
        if any(t.dataset == name and t.targets for t in learns):
            check_transfer(ds, None)
        if any(name in t.targets for t in trials):
            check_transfer(ds, split)


def run_grid(trials: list[Trial], profile: Profile, store: ResultsStore, *, shots: int | None = None,
             split: str = "test", train_overrides: dict | None = None, data_root=None, download: bool = False,
             cache_dir=None, runs_dir=None, engine=None, progress: bool = True) -> list[dict]:
    """Run (or reuse) every trial; returns one row per trial, in trial order."""
    from .engines import LocalEngine
    engine = engine or LocalEngine()
    shots = profile.shots if shots is None else shots
    runs = plan_runs(trials, profile, shots, split, train_overrides or {})
    names = dict.fromkeys(n for t in trials for n in (t.dataset, *t.targets))
    datasets = {name: load_dataset(name, root=data_root, download=download) for name in names}
    check_datasets(trials, datasets, split)
    check(not profile.device.startswith("cuda") or torch.cuda.is_available(),
          f"device {profile.device!r} asked for, but this machine has no CUDA GPU; pass --device cpu")
    backbone = load_backbone(profile.backbone, pretrained=profile.pretrained, device=profile.device)
    rows: list[list | None] = [None] * len(trials)  # each trial's rows
    pending = []
    stored_rows = {r["run_id"]: r for r in store.rows()}
    for i, (t, run) in enumerate(zip(trials, runs)):
        identity = run_identity(run, datasets[t.dataset], backbone, profile.device)
        targets = row_identities(t, identity, datasets, split)
        stored = {k: stored_rows.get(run_id(ident)) for k, ident in targets.items()}
        for row in filter(None, stored.values()):  # the same identity: the same number, whichever label stored it
            if row["label"] != t.label:
                store.add({**row, "label": t.label})
        if all(stored.values()):
            rows[i] = [{**stored[k], "label": t.label} for k in targets]
        else:
            pending.append((i, t, run, run_id(identity), identity, targets, stored))
    if len(pending) < len(trials):
        print(f"reusing {len(trials) - len(pending)} finished run(s) with the same identity from {store.path}")
    jobs = prepare_jobs(pending, datasets, backbone, split, cache_dir, runs_dir, progress)
    index = {id(job): (i, targets, stored) for i, job, targets, stored in jobs}
    bar = tqdm(total=len(jobs), desc="runs", disable=not progress or not jobs)
    for job, result, where in engine.run([j for _, j, *_ in jobs], profile, backbone, progress):
        i, targets, stored = index[id(job)]
        prov = provenance(engine=engine.name, weights_source=backbone.weights, **where)
        rows[i] = []
        for target, identity in targets.items():
            row = stored[target] and {**stored[target], "label": job.trial.label}
            if row is None:
                row = make_row(job.trial, job.run, target, identity, result, prov)
                store.add(row)
            rows[i].append(row)
        bar.update()
        tqdm.write(describe(rows[i]))
    bar.close()
    return [row for trial_rows in rows for row in trial_rows]


def describe(rows: list[dict]) -> str:
    r = rows[0]
    if "target" not in r:
        return (f"{r['label']:<14} {r['dataset']:<14} seed {r['seed']}: base {r['base']:.2f}  novel {r['novel']:.2f}"
                f"  HM {r['hm']:.2f}")
    return (f"{r['label']:<14} {r['source']:<14} seed {r['seed']} shots {r['shots']}: "
            + "  ".join(f"{x['target']} {x['accuracy']:.2f}" for x in rows))


def check_scorable(backbone, run: RunConfig, inputs) -> None:
    """Point a freshly built method at every evaluation set before any training, so that class names that
    do not fit the text context, or class-specific contexts that cannot move to other classes, stop the
    grid here rather than after the training."""
    method = build_method(run.method, backbone, inputs.classnames, inputs.template, run.method_cfg)
    for es in (inputs.evaluation or {}).values():
        method.set_classnames(es.classnames, es.template)


def prepare_jobs(pending, datasets, backbone, split, cache_dir, runs_dir, progress) -> list:
    """Encode every feature the pending trials read (once per dataset and kind), before any training."""
    evaluations: dict = {}

    def evaluation(t: Trial, images: bool) -> dict:
        key = (t.dataset, t.targets, images)
        if key not in evaluations:
            targets = {n: datasets[n] for n in t.targets}
            evaluations[key] = evaluation_sets(backbone, datasets[t.dataset], split, targets, cache_dir, progress,
                                               images)
        return evaluations[key]

    train_features: dict = {}
    checked: set = set()
    jobs = []
    for name in dict.fromkeys(p[1].dataset for p in pending):
        mine = [p for p in pending if p[1].dataset == name]
        for _, t, *_ in mine:  # every evaluation first: a bad image stops the grid before any training
            evaluation(t, METHODS[t.method].encodes_images)
        for i, t, run, rid, identity, targets, stored in mine:
            method = METHODS[t.method]
            train = None
            if method.learns and not method.encodes_images:
                if t.classes not in train_features:
                    train_features[t.classes] = train_split(backbone, datasets[name], t.classes, cache_dir, progress)
                train = train_features[t.classes]
            out_dir = Path(runs_dir) / f"{t.label}-{name}-seed{t.seed}-{rid}" if runs_dir else None
            inputs = trial_inputs(backbone, datasets[name], run, cache_dir, progress,
                                  evaluation(t, method.encodes_images), train)
            key = (t.method, repr(method_fields(t.method, run.method_cfg)), name, t.targets)
            if key not in checked:
                check_scorable(backbone, run, inputs)
                checked.add(key)
            jobs.append((i, Job(t, run, rid, identity, inputs, out_dir, run_info(datasets[name], run, backbone)),
                         targets, stored))
        train_features.clear()
    return jobs
