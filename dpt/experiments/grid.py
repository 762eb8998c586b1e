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

import os

from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..backbones import load_backbone, weights_fingerprint
from ..config import check
from ..errors import BadInput
from ..data import subsample_classes
from .datasets import check_base_to_novel, check_transfer, load_datasets
from ..evaluate import base_novel_scores
from ..files import atomic_save, torch_format
from .writers import shown, writable_folder
from ..inputs import evaluation_sets, trial_inputs
from ..methods import METHODS, MethodConfig, build_method, check_method, method_fields
from ..run import RunConfig, run_info
from .saved import FORMAT as PROMPT_FORMAT, prompt_payload, read_prompt_file
from .bootstrap import pack, row_intervals
from .identity import data_fingerprint, portable_path, provenance, run_id, run_identity
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
    """A trial the store does not hold yet: its place in the grid, config, identity, the rows it will write
    (`targets`: {target or None: row identity}; `stored`: those of them already stored), then its inputs."""
    index: int  # the trial's place in the grid (rows come back in trial order)
    trial: Trial
    run: RunConfig
    run_id: str
    identity: dict  # of the training run (the rows' identities add their target)
    targets: dict
    stored: dict
    inputs: object = None  # dpt.inputs.TrialInputs, prepared before any training
    out_dir: Path | None = None
    run_info: dict | None = None  # recorded in the run's checkpoint (dpt.run.run_info)
    prompt_missing: bool = False  # stored, but --save-prompts has no file of it yet: trained again to write one


def check_method_options(trials: list[Trial]) -> None:
    """Every method option is read by a method it is given to: an option no method of the grid reads is an error
    that names the methods that do; one that only some read is said in one line (the others' identities do not
    record it)."""
    for t in trials:
        check_method(t.method)
    given: dict[str, set] = {}
    for t in trials:
        for k in t.method_overrides:
            given.setdefault(k, set()).add(t.method)
    for key, methods in given.items():
        readers = sorted(m for m in methods if key in METHODS[m].config_fields)
        if not readers:
            who = [m for m in METHODS if key in METHODS[m].config_fields]
            check(False, f"method option {key} is not read by {', '.join(sorted(methods))}"
                         + (f"; it is read by {', '.join(who)}" if who else "; no method reads it"))
        if len(readers) < len(methods):
            print(f"note: {key} applies to {', '.join(readers)} only ({', '.join(sorted(methods - set(readers)))} "
                  "do not read it)")


def check_training_options(trials: list, train_overrides: dict, options: dict | None = None) -> None:
    """Training options (--train-set, --epochs as `train_overrides`; --augment, --views, --runs-dir as `options`,
    None where not given) are read only by methods that train: given to a grid where none does (precision for
    zero-shot) they are refused, as they would change nothing; where some do not, that is said in one line (their
    identities do not record them). `trials`: Trials or method names."""
    given = [f"{k}={v}" for k, v in train_overrides.items()] + [o for o, v in (options or {}).items() if v is not None]
    if not given:
        return
    methods = {getattr(t, "method", t) for t in trials}
    idle = sorted(m for m in methods if not METHODS[m].learns)
    trained = sorted(methods - set(idle))
    idle_do = f"{', '.join(idle)} {'does' if len(idle) == 1 else 'do'} not train"
    check(bool(trained), f"training options ({', '.join(given)}) are not used: {idle_do}; drop them")
    if idle:
        print(f"note: training options ({', '.join(given)}) apply to {', '.join(trained)} only ({idle_do})")


def check_seeds(trials: list[Trial]) -> None:
    bad = [t.seed for t in trials if not (isinstance(t.seed, int) and not isinstance(t.seed, bool)
                                          and 0 <= t.seed < 2 ** 31)]
    if bad:
        raise BadInput(f"seeds must be whole numbers from 0 to {2 ** 31 - 1}, got {bad[0]!r}")
    labels: dict = {}
    for t in trials:
        labels.setdefault(t.label, set()).add(t.method)
    clash = next((lb for lb, ms in labels.items() if len(ms) > 1), None)
    if clash is not None:
        raise BadInput(f"--tag {clash!r} would name the rows of {', '.join(sorted(labels[clash]))} alike; tag one "
                       "method at a time (or drop --tag)")
    keys = [(t.label, t.dataset, t.seed, t.targets, t.shots) for t in trials]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup is not None:
        raise BadInput(f"seed {dup[2]} is given twice: a run is trained once and counted once; give each seed one time")


def plan_runs(trials: list[Trial], profile: Profile, shots: int, split: str, train_overrides: dict) -> list[RunConfig]:
    """Every trial's RunConfig, validated (unknown or ill-typed options stop here)."""
    check(split in ("val", "test"), f"split must be val or test, got {split!r}")
    check(bool(trials), "nothing to run: give at least one method, dataset and seed")
    check("seed" not in train_overrides, "the seed comes from --seeds, not from --train-set seed=...")
    check_seeds(trials)
    check_method_options(trials)
    check_training_options(trials, train_overrides)
    runs = []
    for t in trials:
        check_method(t.method)
        n = shots if t.shots is None else t.shots
        runs.append(profile.run_config(t.method, t.seed, t.dataset, n, t.classes, split, train_overrides,
                                       MethodConfig.from_dict(t.method_overrides)))  # checked by RunConfig
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


def check_shots(trials: list[Trial], runs: list[RunConfig], datasets: dict) -> None:
    """A shot count beyond every class's training images is refused (the row would record shots it never had);
    classes with fewer images than the shots train on all they have, as Dassl's sampler does, and that is said."""
    seen = set()
    for t, run in zip(trials, runs):
        if not METHODS[t.method].learns or (t.dataset, t.classes, run.shots) in seen:
            continue
        seen.add((t.dataset, t.classes, run.shots))
        part = subsample_classes(datasets[t.dataset], t.classes)
        counts = [0] * part.num_classes
        for it in part.train:
            counts[it.label] += 1
        check(run.shots <= max(counts), f"shots={run.shots}: no {'' if t.classes == 'all' else t.classes + ' '}class of {t.dataset} has that many training "
                                        f"images (at most {max(counts)}); give --shots {max(counts)} or fewer")
        short = sum(c < run.shots for c in counts)
        if short:
            print(f"note: {short} of {part.num_classes} {t.classes} classes of {t.dataset} have fewer than "
                  f"{run.shots} training images; they train on all they have (as Dassl's few-shot sampler does)")


def run_grid(trials: list[Trial], profile: Profile, store: ResultsStore, *, shots: int | None = None,
             split: str = "test", train_overrides: dict | None = None, data_root=None, download: bool = False,
             cache_dir=None, runs_dir=None, engine=None, progress: bool = True, mix_backbones: bool = False,
             save_prompts=None, on_reuse=None) -> list[dict]:
    """Run (or reuse) every trial; returns one row per trial, in trial order. A results file that holds rows of
    another backbone or other weights is refused unless `mix_backbones` (their numbers must never meet in one
    table by accident). save_prompts: a folder that gets one prompt file per learned run (dpt.experiments.saved); a stored run
    whose file is not there yet is trained again for it (its row is kept, never rewritten). on_reuse(n, where): told
    how many stored runs were reused and from which file (default: a line that says so)."""
    from .engines import LocalEngine
    engine = engine or LocalEngine()
    shots = profile.shots if shots is None else shots
    runs = plan_runs(trials, profile, shots, split, train_overrides or {})
    for folder, what in ((runs_dir, "runs folder (runs_dir)"), (save_prompts, "prompt folder (save_prompts=DIR)")):
        if folder is not None and not str(folder).strip():
            raise BadInput(f"an empty path was given for the {what}; give a folder")
    if cache_dir is not None and not str(cache_dir).strip():
        raise BadInput("an empty path was given for the feature cache (cache_dir); give a folder")
    names = dict.fromkeys(n for t in trials for n in (t.dataset, *t.targets))
    datasets = load_datasets(names, root=data_root or os.environ.get("DPT_DATA"), download=download)
    check_datasets(trials, datasets, split)
    check_shots(trials, runs, datasets)
    for folder, what, depth in ((runs_dir, "runs folder (runs_dir)", 1),
                                (save_prompts, "prompt folder (save_prompts=DIR)", 0)):
        if folder is not None:  # created only once the grid is known to be runnable (and cleaned of what a run
            writable_folder(folder, what, depth)  # killed while writing a checkpoint or a prompt left there)
    check(not profile.device.startswith("cuda") or torch.cuda.is_available(),
          f"device {profile.device!r} asked for, but this machine has no CUDA GPU; pass --device cpu")
    backbone = load_backbone(profile.backbone, pretrained=profile.pretrained, device=profile.device)
    if not mix_backbones:
        store.check_backbone(backbone.name, weights_fingerprint(backbone))
    rows: list[list | None] = [None] * len(trials)  # each trial's rows
    jobs = []
    stored_rows = {r["run_id"]: r for r in store.rows()}
    candidates = []
    for i, (t, run) in enumerate(zip(trials, runs)):  # every stored prompt file checked before anything is recorded
        identity = run_identity(run, datasets[t.dataset], backbone, profile.device)
        targets = row_identities(t, identity, datasets, split)
        job = Job(i, t, run, run_id(identity), identity, targets,
                  {k: stored_rows.get(run_id(ident)) for k, ident in targets.items()})
        job.prompt_missing = save_prompts is not None and METHODS[t.method].learns and \
            not stored_prompt(prompt_path(save_prompts, t, job.run_id), identity)
        candidates.append(job)
    for job in candidates:
        for row in filter(None, job.stored.values()):  # the same identity: the same number, whichever label stored it
            if row["label"] != job.trial.label:
                store.add({**row, "label": job.trial.label})
        if all(job.stored.values()) and not job.prompt_missing:
            rows[job.index] = [{**job.stored[k], "label": job.trial.label} for k in job.targets]
        else:
            jobs.append(job)
    if len(jobs) < len(trials):
        (on_reuse or say_reused)(len(trials) - len(jobs), shown(store.path))
    check_buildable(jobs, datasets, backbone)
    prepare_inputs(jobs, datasets, backbone, split, cache_dir, runs_dir, progress)
    bar = tqdm(total=len(jobs), desc="runs", disable=not progress or not jobs)
    for job, result, where in engine.run(jobs, profile, backbone, progress):
        if save_prompts is not None and METHODS[job.run.method].learns:
            payload = result["payload"] if "payload" in result else prompt_payload(result["model"])
            atomic_save({**payload, "identity": job.identity}, prompt_path(save_prompts, job.trial, job.run_id),
                        kind="prompt file", own=torch_format(PROMPT_FORMAT))
        prov = provenance(engine=engine.name, weights_source=portable_path(backbone.weights), **where)
        rows[job.index] = []
        for target, identity in job.targets.items():
            row = job.stored[target] and {**job.stored[target], "label": job.trial.label}
            if row is None:
                row = make_row(job.trial, job.run, target, identity, result, prov)
                store.add(row)
            rows[job.index].append(row)
        bar.update()
        tqdm.write(describe(rows[job.index]))
    bar.close()
    return [row for trial_rows in rows for row in trial_rows]


def prompt_path(folder, trial: Trial, rid: str) -> Path:
    return Path(folder).expanduser() / f"{trial.label}-{trial.dataset}-seed{trial.seed}-{rid}.pt"


def stored_prompt(path: Path, identity: dict) -> bool:
    """Whether a stored run's prompt file is there (False: train the run again to write it). One that is there is
    reused only if it still reads as this run's prompt: a truncated or altered file is refused in one line, never
    kept as if it were whole."""
    if not path.is_file():
        return False
    try:
        doc = read_prompt_file(path)
    except BadInput as e:  # its first clause says what is wrong; the rest is advice for another situation
        raise BadInput(f"a stored run's prompt file is damaged: {str(e).split(';')[0]}; delete it (rm {path}) and "
                       "run again to train that run anew") from None
    if doc.get("identity") not in (None, identity):
        raise BadInput(f"the prompt file {path} holds another run than its name says (its identity differs); delete "
                       f"it (rm {path}) and run again to train that run anew")
    return True


def describe(rows: list[dict]) -> str:
    r = rows[0]
    if "target" not in r:
        return (f"{r['label']:<14} {r['dataset']:<14} seed {r['seed']}: base {r['base']:.2f}  novel {r['novel']:.2f}"
                f"  HM {r['hm']:.2f}")
    return (f"{r['label']:<14} {r['source']:<14} seed {r['seed']} shots {r['shots']}: "
            + "  ".join(f"{x['target']} {x['accuracy']:.2f}" for x in rows))


def say_reused(n: int, where: str) -> None:
    print(f"reusing {n} finished run(s) with the same identity from {where}")


def check_buildable(jobs: list[Job], datasets, backbone) -> None:
    """Build each pending method once on its training classes and point it at every set it will be scored on,
    before any image is read: class names that do not fit the text context, a context length that contradicts
    its initial words, class-specific contexts that cannot move to other classes stop the grid here."""
    checked = set()
    for job in jobs:
        t, run = job.trial, job.run
        key = (t.method, repr(method_fields(t.method, run.method_cfg)), t.dataset, t.targets)
        if key in checked:
            continue
        checked.add(key)
        ds = datasets[t.dataset]
        part = subsample_classes(ds, t.classes)
        method = build_method(run.method, backbone, part.classnames, ds.template, run.method_cfg)
        sets = ([datasets[n] for n in t.targets] if t.targets else
                [subsample_classes(ds, "base"), subsample_classes(ds, "novel")])
        for target in sets:
            method.set_classnames(target.classnames, target.template)


def prepare_inputs(jobs: list[Job], datasets, backbone, split, cache_dir, runs_dir, progress) -> None:
    """Every job's inputs, before any training: each evaluation once per dataset and kind (shared by its
    trials, and all of them first: a bad image stops the grid before any training), then each training set
    through the per-image cache."""
    evaluations: dict = {}

    def evaluation(t: Trial, images: bool) -> dict:
        key = (t.dataset, t.targets, images)
        if key not in evaluations:
            targets = {n: datasets[n] for n in t.targets}
            evaluations[key] = evaluation_sets(backbone, datasets[t.dataset], split, targets, cache_dir, progress,
                                               images)
        return evaluations[key]

    for job in jobs:
        evaluation(job.trial, METHODS[job.trial.method].encodes_images)
    for job in jobs:
        t, ds = job.trial, datasets[job.trial.dataset]
        job.out_dir = Path(runs_dir) / f"{t.label}-{t.dataset}-seed{t.seed}-{job.run_id}" if runs_dir else None
        job.inputs = trial_inputs(backbone, ds, job.run, cache_dir, progress,
                                  evaluation(t, METHODS[t.method].encodes_images))
        job.run_info = run_info(ds, job.run, backbone)
