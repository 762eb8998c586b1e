"""The notebooks' shared setup: pick the profile, the device, the datasets, the budget, and where figures and
results go.

Every notebook starts with

    from dpt.experiments.course import setup
    P = setup()

The profile (`dpt.experiments.profiles`) is `miniature` (miniclip + ShapeWorld, any CPU, offline) unless
DPT_PROFILE says `real` (open_clip ViT-B-16, weights from DPT_PRETRAINED or open_clip's 'openai', and two
benchmarks under DPT_DATA). Environment variables choose the rest, so one notebook runs on either path:

    DPT_DEVICE=cpu          the real profile on a CPU (a rehearsal: slow, but every cell runs)
    DPT_DATASETS="DTD EuroSAT"   the real profile's datasets (default: DTD and OxfordPets)
    DPT_EPOCHS=5 DPT_SHOTS=4     a short budget over every method's recipe (default: the recipes themselves)

A `real` request that cannot be met (no GPU without DPT_DEVICE, a dataset missing) falls back to the miniature,
and the first line the setup cell prints says so and what is missing.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from ..errors import BadInput
from .profiles import Profile, get_profile

# What the notebooks use from beside the library, all through this one module: the notebooks import the library
# (dpt, dpt.methods, dpt.run, ...) and `from dpt.experiments import course`, nothing else of the lab.
from . import exercises  # noqa: E402,F401  the exercises' checks (course.exercises.infonce(...))
from .claims import claim, compare_word, interval, listing, num  # noqa: E402,F401  sentences rendered from the data
from .colab import use_real_clip  # noqa: E402,F401  the Colab cell's switch to real CLIP
from .exercises import check, todo  # noqa: E402,F401
from .figures import (METHOD_COLOURS, dataset_gallery, fit_axes, hm_isolines, method_diagram,  # noqa: E402,F401
                      world_gallery)
from .figures import NAMES, name  # noqa: E402,F401  names · each run label's display name (tables, legends)
from .published import published  # noqa: E402,F401  the papers' numbers, each with its source
from .references import attribution, references  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[2]


# 00 · how far the default miniature ranks from real CLIP (notebook 00's paragraph; docs/miniature.md has the table)
def miniature_fidelity(profile: str | None = None) -> dict:
    """The committed fidelity criteria of a miniature (default: the default miniature), as `make criteria` wrote
    them: {'profile', 'rho' (Spearman's rho between the eight methods' HM there and their published ViT-B/16
    averages), 'needed', 'ours_hm', 'published_hm', 'miniature' and 'published' (the methods, best HM first),
    'criteria' (every criterion's row, each with 'holds')}."""
    from .fidelity import load_criteria
    from .profiles import DEFAULT_MINIATURE
    name = profile or DEFAULT_MINIATURE
    doc = load_criteria(name, ROOT)
    if doc is None:
        raise BadInput(f"no fidelity criteria for {name}: `python benchmarks/miniature_criteria.py --profile {name}` "
                       "measures them")
    ranking = doc["criteria"]["ranking_spearman"]
    order = lambda hm: sorted(hm, key=hm.get, reverse=True)  # noqa: E731  best HM first
    return {"profile": name, "rho": ranking["rho"], "needed": ranking["needed"], "ours_hm": ranking["ours_hm"],
            "published_hm": ranking["published_hm"], "miniature": order(ranking["ours_hm"]),
            "published": order(ranking["published_hm"]), "criteria": doc["criteria"]}


class Results:
    """The stored rows of one results file, as the notebooks read them: a table per label and dataset (mean over
    seeds) and paired-bootstrap differences over the same test images (the lab's one results loader)."""

    def __init__(self, rows: list[dict], path: Path):
        self.rows, self.path = rows, path

    def __len__(self):
        return len(self.rows)

    def labels(self) -> list[str]:
        return list(dict.fromkeys(r["label"] for r in self.rows))

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(r["dataset"] for r in self.rows))

    def select(self, labels=None, datasets=None, split: str | None = None) -> "Results":
        """These rows restricted to `labels`, `datasets` and `split` (None: all)."""
        keep = [r for r in self.rows if (labels is None or r["label"] in labels)
                and (datasets is None or r["dataset"] in datasets) and (split is None or r["split"] == split)]
        return Results(keep, self.path)

    def mean(self, label: str, dataset: str = "average") -> dict:
        """{'base', 'novel', 'hm'} of `label` on `dataset` (or the average over its datasets), mean over seeds."""
        return dict(self._bootstrap().point[label, dataset])

    def difference(self, a: str, b: str, dataset: str = "average", metric: str = "hm"):
        """a − b with its 95% paired-bootstrap interval (an Interval: .mean, .lo, .hi, .excludes_zero())."""
        return self._bootstrap().difference(a, b, dataset, metric)

    def table(self, labels=None, datasets=None) -> str:
        """Markdown: base / novel / HM per label and dataset, mean ± std over seeds, and each label's average; each
        label shown by its display name (`name`), `labels` given as stored."""
        from .summary import format_table, summarise
        shown = [{**s, "label": name(s["label"])} for s in summarise(self.rows)]  # names · display names
        return format_table(shown, labels=labels and [name(x) for x in labels], datasets=datasets)

    def _bootstrap(self):
        if getattr(self, "_boot", None) is None:
            from .bootstrap import Bootstrap
            self._boot = Bootstrap(self.rows)
        return self._boot


def current_runs(rows: list[dict], path) -> list[dict]:
    """The rows, never pooling two runs of one label on the same dataset, seed and split: where a label holds runs
    of two identities (an ablation redefined after it ran, its old rows kept), only those whose dpt options are the
    label's definition now (dpt.experiments.ablation.ABLATIONS); anything still doubled is refused."""
    from collections import defaultdict

    from .ablation import ABLATIONS
    key = lambda r: (r["label"], r.get("dataset", r.get("target")), r["seed"], r.get("shots"), r["split"])  # noqa: E731
    runs = defaultdict(set)
    for r in rows:
        runs[key(r)].add(r["run_id"])

    def current(r) -> bool:
        want = ABLATIONS.get(r["label"])
        return want is not None and all(r["identity"]["method_config"].get(k) == v for k, v in want.items())
    keep = [r for r in rows if len(runs[key(r)]) == 1 or current(r)]
    chosen = defaultdict(set)
    for r in keep:
        chosen[key(r)].add(r["run_id"])
    unresolved = sorted(k for k, ids in runs.items() if len(chosen[k]) != 1)
    if unresolved:
        raise BadInput(f"{path} holds runs of two identities for {unresolved[0]} (label, dataset, seed, shots, "
                       "split); the course does not pool them: keep one of them in the file")
    return keep


class Course:
    """A profile plus what the notebooks need around it: the loaded backbone, datasets, figures, results."""

    def __init__(self, profile: Profile, figures: Path = ROOT / "figures", committed: bool = False):
        self.profile, self.figures, self._backbone, self._datasets = profile, figures, None, {}
        self.committed = committed  # read the results committed with the course, never a $DPT_RESULTS copy
        self.started = time.time()

    name = property(lambda self: self.profile.name)
    datasets = property(lambda self: list(self.profile.course_datasets or self.profile.datasets))
    is_miniature = property(lambda self: self.profile.name.startswith("miniature"))
    device = property(lambda self: self.profile.device)

    @property
    def backbone(self):
        """The frozen CLIP backbone of this profile (loaded once)."""
        if self._backbone is None:
            from ..backbones import load_backbone
            p = self.profile
            self._backbone = load_backbone(p.backbone, pretrained=p.pretrained, device=p.device)
        return self._backbone

    def dataset(self, name: str | None = None):
        """One of this course's datasets (loaded once); another profile's dataset is refused, so a notebook
        cannot score one CLIP on the other's data by accident."""
        from ..data import load_dataset
        from .datasets import resolve_dataset_names
        name = self.datasets[0] if name is None else resolve_dataset_names([name])[0]
        p = self.profile
        if name not in self._datasets:
            from .datasets import BENCHMARKS, IMAGENET_VARIANTS
            real = name in BENCHMARKS or name in IMAGENET_VARIANTS
            if real == self.is_miniature:
                raise BadInput(f"{name!r} is not a dataset of the {p.name} profile; this course uses "
                               f"{', '.join(self.datasets)} (P.datasets)")
            self._datasets[name] = load_dataset(name, root=os.environ.get("DPT_DATA"))
        return self._datasets[name]

    def train_config(self, method: str, seed: int = 1, **overrides):
        """The profile's training config for `method` (the same one `python -m dpt base2novel` uses)."""
        return self.profile.train_config(method, seed, overrides)

    def run_config(self, method: str, seed: int = 1, method_cfg=None, classes: str = "base", shots: int | None = None,
                   dataset: str | None = None, **train_overrides):
        """A RunConfig for `method` with the profile's defaults, augmentation included (for train_on_base /
        base_to_novel; the same one `python -m dpt base2novel` uses); classes "all" trains on every class (the
        transfer and few-shot protocols)."""
        return self.profile.run_config(method, seed, dataset, shots, classes, "test", train_overrides, method_cfg)

    def results_file(self, stem: str) -> Path:
        """This profile's committed results file for `stem` (results/<profile>/<stem>.json in the project)."""
        if self.committed:
            return ROOT / "results" / self.profile.results / f"{stem}.json"
        return ROOT / self.profile.results_file(stem)

    def results(self, stem: str, split: str = "test") -> Results:
        """The committed rows of results/<profile>/<stem>.json on `split` (e.g. P.results("base2novel"))."""
        from .store import read_rows
        path = self.results_file(stem)
        if not path.exists():
            raise BadInput(f"{path} does not exist: the course reads the results the commands stored there "
                           "(docs/reproducibility.md says which command writes it)")
        return Results(current_runs([r for r in read_rows(path) if r["split"] == split], path), path)

    def savefig(self, fig, name: str) -> None:
        """Save a figure as figures/<name>.png (the README and docs/ show these)."""
        from .writers import save_figure
        save_figure(fig, self.figures / f"{name}.png", dpi=110, bbox_inches="tight")

    def run_time(self, notebook: str):
        """Markdown: how long `notebook` took at the last `python -m dpt course` on this profile, on which machine
        (measured by the course command, notebooks/run_times.json), or that it has not been measured."""
        from .claims import claim
        key = profile_key(repr(self))  # the profile and any course budget, as the course command recorded them
        entry = read_run_times().get(key, {}).get(notebook)
        if not entry:
            return claim("**Run time:** not measured yet on the {p} profile (`python -m dpt course` measures it).",
                         p=key)
        return claim("**Run time:** about {m} min on the {p} profile ({cpus} CPU cores{gpu}, measured {when}).",
                     m=entry["seconds"] / 60, p=key, when=entry["date"], cpus=str(entry["cpus"]),
                     gpu=f", {entry['gpu']}" if entry.get("gpu") else ", no GPU")

    def __repr__(self) -> str:
        p = self.profile
        budget = "".join(f", {k} {v}" for k, v in p.budget.items()) + (f", {p.shots} shots" if p.shots != 16 else "")
        weights = f" ({p.pretrained})" if p.name == "real" else ""
        return (f"Profile({p.name}: backbone {p.backbone}{weights}, datasets {', '.join(self.datasets)}, "
                f"device {p.device}{budget})")


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name, "").replace(",", " ").split()
    return value or None


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise BadInput(f"{name}={value!r}: give a whole number of at least 1")
    return int(value)


def _real_missing(profile: Profile, loaded: dict) -> str | None:
    """None if the real profile can run here as asked, else what is missing (in one phrase); the course's datasets
    it loads on the way go into `loaded`, for the course to keep."""
    from ..data import load_dataset
    from ..errors import MissingData
    if profile.device.startswith("cuda") and not torch.cuda.is_available():
        return "it needs a CUDA GPU and this machine has none (DPT_DEVICE=cpu rehearses it on the CPU, slowly)"
    root = os.environ.get("DPT_DATA")
    if not root or not Path(root).expanduser().is_dir():
        return ("DPT_DATA does not point at a folder of datasets (in Colab the first cell downloads them; elsewhere "
                "see `python -m dpt data`)")
    missing = []
    for name in profile.course_datasets:
        try:
            loaded[name] = load_dataset(name, root=root)
        except MissingData:
            missing.append(name)
    if missing:
        return (f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not under DPT_DATA={root} "
                f"(`python -m dpt data --data-root {root} --datasets {' '.join(missing)}` says where to get them)")
    return None


def setup(profile: str | None = None, seed: int = 0, *, device: str | None = None, datasets=None,
          epochs: int | None = None, shots: int | None = None) -> Course:
    """Choose the profile (argument, else $DPT_PROFILE, else miniature), its device ($DPT_DEVICE), the real
    profile's datasets ($DPT_DATASETS) and a course budget ($DPT_EPOCHS, $DPT_SHOTS); seed everything and print
    a summary, whose first line says if a real request fell back to the miniature."""
    from .datasets import resolve_dataset_names
    from .command_line import cache_from_environment
    cache_from_environment()
    chosen = get_profile(profile)
    device = device or os.environ.get("DPT_DEVICE") or None
    epochs, shots = epochs or _env_int("DPT_EPOCHS"), shots or _env_int("DPT_SHOTS")
    if chosen.name == "real":
        names = resolve_dataset_names(datasets or _env_list("DPT_DATASETS") or chosen.course_datasets)
        from .datasets import BENCHMARKS, IMAGENET_VARIANTS
        other = [n for n in names if n not in BENCHMARKS and n not in IMAGENET_VARIANTS]
        if other:
            raise BadInput(f"DPT_DATASETS names {', '.join(other)}: the real profile's course runs on benchmark "
                           f"datasets ({', '.join(BENCHMARKS)}); unset DPT_PROFILE for the miniature")
        chosen = chosen.with_(device=device, course_datasets=tuple(names), shots=shots,
                              budget={"epochs": epochs} if epochs else None,  # the course's transfer: among them
                              transfer_source=names[0], transfer_targets=tuple(names))
        loaded: dict = {}
        if missing := _real_missing(chosen, loaded):
            print(f"Running on the offline miniature, not real CLIP: {missing}.")
            chosen = get_profile("miniature")
    elif device:
        chosen = chosen.with_(device=device)
    torch.manual_seed(seed)
    course = Course(chosen, figures=Path(os.environ.get("DPT_FIGURES") or figures_folder(chosen)))  # tests redirect
    if chosen.name == "real":
        course._datasets.update(loaded)  # read once, by the check above
    print(course)
    return course


def miniature() -> Course:
    """The default miniature with the runs committed with the course: what a notebook shows of the miniature on
    either profile (on real CLIP, beside the learner's own runs)."""
    from .profiles import DEFAULT_MINIATURE
    return Course(get_profile(DEFAULT_MINIATURE), committed=True)


RUN_TIMES = ROOT / "notebooks" / "run_times.json"
RUN_TIMES_FORMAT = "dpt-course-run-times"


def read_run_times(path: Path | None = None) -> dict:
    """{profile: {notebook stem: {'seconds', 'date', 'cpus', 'gpu'}}} as the course command recorded them
    (default: the course's own record, notebooks/run_times.json)."""
    import json
    try:
        doc = json.loads(Path(path or RUN_TIMES).read_text())
    except (OSError, ValueError):
        return {}
    return doc.get("profiles", {}) if isinstance(doc, dict) and doc.get("format") == RUN_TIMES_FORMAT else {}


def run_times_target(folder: Path) -> Path:
    """Where the course command records the notebooks of `folder` (checked before any notebook runs)."""
    from ..files import check_target
    from .writers import json_format
    return check_target(Path(folder) / "run_times.json", "course run-time record", json_format(RUN_TIMES_FORMAT))


def profile_key(line: str) -> str:
    """"miniature-v1", or "real epochs 5 4 shots": the profile and course budget of a printed Profile(...) line."""
    import re
    hit = re.match(r"Profile\(([\w-]+):", line)
    return " ".join([hit[1], *re.findall(r"epochs \d+|\d+ shots", line)]) if hit else ""


def profile_of(nb) -> str:
    """The profile an executed notebook ran on, as its setup cell printed it (after any fallback from real CLIP),
    budget included; "" if it printed none."""
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines():
                if key := profile_key(line):
                    return key
    return ""


def record_run_time(notebook: Path, seconds: float, profile: str) -> None:
    """Record one notebook's measured run time next to it (run_times.json), replacing only its own entry."""
    import datetime

    from .writers import write_json_atomic
    from .writers import json_format
    path = run_times_target(Path(notebook).parent)
    profiles = read_run_times(path)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    profiles.setdefault(profile, {})[Path(notebook).stem] = {
        "seconds": round(seconds, 1), "date": datetime.date.today().isoformat(), "cpus": os.cpu_count(), "gpu": gpu}
    write_json_atomic(path, {"format": RUN_TIMES_FORMAT, "command": "python -m dpt course", "profiles": profiles},
                      kind="course run-time record", own=json_format(RUN_TIMES_FORMAT))


# The course tables that show each notebook's minutes on the default miniature, on 2 CPU cores and no GPU, as their
# captions say: a row is its notebook's link, the other cells, and the minutes at one decimal in the last cell.
MINUTES_TABLES = {
    "README.md": r"^(?P<head>\| \[(?P<stem>\d\d_\w+)\]\(notebooks/(?P=stem)\.ipynb\) \|[^|]*\| )"
                 r"(?P<minutes>\d+\.\d)(?P<tail> \|\r?)$",
    "docs/teaching.md": r"^(?P<head>\| \[(?P<n>\d\d)\]\(\.\./notebooks/(?P<stem>(?P=n)_\w+)\.ipynb\)[^|]*\|"
                        r"[^|]*\| \d+ \| )"
                        r"(?P<minutes>\d+\.\d)(?P<tail> \|\r?)$"}


def recorded_minutes(profiles: dict | None = None, notebooks: Path = ROOT / "notebooks") -> dict[str, str]:
    """{notebook stem: minutes at one decimal} of the default miniature's notebooks in `notebooks`, as the course
    command recorded them (a notebook since renamed or removed is not one of them)."""
    from .profiles import DEFAULT_MINIATURE
    record = (read_run_times() if profiles is None else profiles).get(DEFAULT_MINIATURE, {})
    return {stem: f"{entry['seconds'] / 60:.1f}" for stem, entry in record.items()
            if (notebooks / f"{stem}.ipynb").exists()}


def shown_minutes(page: str, table: str) -> dict[str, str]:
    """{notebook stem: minutes} as the course table of `page` (a key of MINUTES_TABLES) shows them."""
    import re
    return {m["stem"]: m["minutes"] for m in re.finditer(MINUTES_TABLES[table], page, re.M)}


def minutes_on_the_tables_machine(profiles: dict) -> bool:
    """Whether the default miniature's record was measured as the tables' captions say: 2 CPU cores, no GPU."""
    from .profiles import DEFAULT_MINIATURE
    return all(e.get("cpus") == 2 and not e.get("gpu") for e in profiles.get(DEFAULT_MINIATURE, {}).values())


def tables_behind_the_record() -> list[str]:
    """The course tables whose minutes differ from a record measured as their captions say (none for a record of
    another machine, or where the pages are not here)."""
    profiles = read_run_times()
    if not minutes_on_the_tables_machine(profiles):
        return []
    now = recorded_minutes(profiles, ROOT / "notebooks")
    behind = lambda t: any(now.get(stem, shown) != shown  # noqa: E731  a notebook with no record is not behind
                           for stem, shown in shown_minutes((ROOT / t).read_text(), t).items())
    return [t for t in MINUTES_TABLES if (ROOT / t).exists() and behind(t)]


def write_minutes(root: Path = ROOT) -> list[str]:
    """Copy the recorded minutes into the last cell of each row of the course tables (nothing else on those pages
    changes); the pages rewritten. A record from another machine than the captions' is refused."""
    import re

    from ..files import atomic_write_text
    profiles = read_run_times(root / "notebooks" / "run_times.json")
    if not minutes_on_the_tables_machine(profiles):
        raise BadInput("the course tables show minutes on 2 CPU cores without a GPU, and notebooks/run_times.json was "
                       "measured on another machine: keep the committed record (git checkout notebooks/run_times.json)")
    missing = [root / t for t in MINUTES_TABLES if not (root / t).exists()]
    if missing:  # before any page is written
        raise BadInput(f"no {missing[0]}: --write-minutes writes into a clone of the dpt repository, "
                       "not into an installed dpt")
    minutes, changed = recorded_minutes(profiles, root / "notebooks"), []
    for table, pattern in MINUTES_TABLES.items():
        path = root / table
        with open(path, encoding="utf-8", newline="") as f:
            page = f.read()
        new = re.sub(pattern, lambda m: m["head"] + minutes.get(m["stem"], m["minutes"]) + m["tail"], page, flags=re.M)
        if new != page:  # a page that shows no course table is not this command's to write
            atomic_write_text(path, new, kind="page with a course table",
                              own=lambda p, t=table: bool(shown_minutes(p.read_text(encoding="utf-8"), t)))
            changed.append(table)
    return changed


def figures_folder(profile: Profile) -> Path:
    """figures/ for the default miniature (the README and docs/ show them), figures/<profile>/ for any other, so a run on
    real CLIP never replaces the committed figures."""
    from .profiles import DEFAULT_MINIATURE
    return ROOT / "figures" if profile.name == DEFAULT_MINIATURE else ROOT / "figures" / profile.name


# 06-08 · what notebooks 06-08 read beside Results: the fidelity table and the miniature's ranking against real
# CLIP's, the published transfer and domain numbers, and paired differences on one transfer target.
from .published import CROSS_DATASET, DOMAIN_GENERALISATION, TRANSFER_SOURCES  # noqa: E402,F401  real CLIP ViT-B/16, each sourced


def accuracy_difference(results: Results, a: str, b: str, target: str):
    """a − b on one target of one-accuracy rows (P.results("transfer")), mean over seeds, with its 95% interval
    paired over the target's test images (an Interval, like Results.difference)."""
    if getattr(results, "_accuracy_boot", None) is None:
        from .bootstrap import AccuracyBootstrap
        results._accuracy_boot = AccuracyBootstrap(results.rows, cell=lambda r: (r["label"], r["target"]),
                                                   pool=lambda r: r["target"])
    return results._accuracy_boot.difference((a, target), (b, target))


def run_benchmark(*args, **kwargs):
    """The base-to-novel grid of `python -m dpt base2novel` (dpt.experiments.base2novel.run_benchmark): it trains the
    runs its results file lacks. Notebook 06 calls it on real CLIP only, where no runs are stored with the course."""
    from .base2novel import run_benchmark as grid
    return grid(*args, **kwargs)


# 03-05 · the two prompt views of a trained method: how near they are (cosine) beside what the MI term's critic reads
def view_measures(method, classnames=None, scale: float = 10.0) -> dict:
    """{'cosine': the mean cos(t_soft_c, t_hand_c) over `classnames` (default: the method's own), 'mi': the
    InfoNCE estimate (nats) of a dot critic g(a, b) = scale · a·b on the C pairs (the critic dpt starts from, a
    fixed ruler for every method), 'log C': its ceiling}. A method without a soft view (zero-shot) has identical
    views. Notebook 03 writes it out; 05 uses it beside every MI estimate."""
    import math as _math

    from ..mi import DotCritic, InfoNCE
    if classnames is not None:
        method.set_classnames(list(classnames))
    with torch.no_grad():
        hand = method.hand
        soft = method.soft_features() if hasattr(method, "soft_features") else hand
        critic = DotCritic(soft.shape[1], hand.shape[1], init_scale=scale).to(soft.device)
        mi = float(InfoNCE(critic).bound(critic(soft, hand))[1])
    return {"cosine": float((soft * hand).sum(-1).mean()), "mi": mi, "log C": _math.log(len(hand))}


# 03-05 · the word a rendered sentence uses for a change, read from the numbers (no if-else in a notebook's view)
def moved(before: float, after: float, tol: float = 0.0, up: str = "rose", down: str = "fell",
          same: str = "stayed level") -> str:
    """`up` if after > before + tol, `down` if after < before - tol, else `same` (course.claim's wording)."""
    return {"above": up, "below": down, "level with": same}[compare_word(after, before, tol)]


# 06-08 · a method's run with its main knob tuned on the validation split (its own label where none is stored), and
# the words a rendered sentence uses for a paired interval
def tuned(results: Results, method: str) -> str:
    """The label of `method`'s run tuned on validation in `results`, else `method` itself."""
    return f"{method}_tuned" if f"{method}_tuned" in results.labels() else method


def reading(iv, a: str, b: str) -> str:
    """'a is above b' where the interval of a − b lies above zero, 'a is below b' below it, else 'cannot be told
    apart'."""
    return f"{a} is above {b}" if iv.lo > 0 else f"{a} is below {b}" if iv.hi < 0 else f"{a} and {b} cannot be told apart"

