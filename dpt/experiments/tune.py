"""`python -m dpt tune`: the same search on val for every method's main knob, then one test run with the choice.

    python -m dpt tune --methods dpt kgcoop coop_ensemble coop prograd ivlp maple promptsrc --datasets miniature \
        --seeds 1 2 3 --split val --test-out results/miniature-v1/base2novel.json   # files: results/<profile>/

Each method gets six values of one knob (KNOBS) and the same seeds and datasets; the value with the highest
val HM (the HM of the dataset-averaged base and novel accuracy, as the tables report) is chosen. The val runs
go to --runs (a results file like any other, one label per value: `kgcoop[kg_weight=4]`), the choice and its
evidence to --out, and, with --test-out, each method runs once on test with its chosen value (label
`<method>_tuned`). The search never reads test: --split must be val. Choices already in --out for other
methods are kept if they were searched the same way (profile, datasets, seeds, training settings, runs file).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from .datasets import resolve_dataset_names
from ..errors import BadInput
from .command_line import Parser, recorded_command
from ..files import check_target, locked
from .writers import json_format, write_json_atomic
from ..methods import MethodConfig
from .base2novel import run_benchmark
from .options import add_run_arguments, run_kwargs
from .profiles import resolve_profile
from .store import ResultsStore
from .summary import format_table, summarise


@dataclass(frozen=True)
class Knob:
    name: str  # a MethodConfig field, or a TrainConfig field when where == "train"
    values: tuple[float, ...]
    where: str = "method"
    tied: tuple[tuple[str, float], ...] = ()  # other fields set to ratio × value (one knob, a fixed ratio)

    def settings(self, value) -> dict:
        """All the fields one value sets."""
        return {self.name: value, **{f: round(r * value, 6) for f, r in self.tied}}


# Six values each: an equal budget. The default lies inside every range (kg_weight 8 is KgCoOp's λ = 4 on
# the squared distance; its paper's λ = 8 is kg_weight 16). Methods without a regularisation weight (CoOp,
# IVLP, MaPLe) get their epochs searched instead; PromptSRC's two loss weights move together at its
# reference ratio 25 : 10, so it gets six values like the others rather than 36.
EPOCHS = (2, 5, 10, 20, 30, 50)
KNOBS = {
    "coop": Knob("epochs", EPOCHS, "train"),
    "coop_ensemble": Knob("ensemble", (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)),
    "kgcoop": Knob("kg_weight", (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)),
    "prograd": Knob("prograd_lambda", (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)),
    "dpt": Knob("mi_weight", (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)),
    "ivlp": Knob("epochs", EPOCHS, "train"),
    "maple": Knob("epochs", EPOCHS, "train"),
    "promptsrc": Knob("src_text_weight", (2.5, 5.0, 10.0, 25.0, 50.0, 100.0), tied=(("src_image_weight", 0.4),)),
}


def setting_label(label: str, settings: dict) -> str:
    """The label of one setting's rows: `kgcoop[kg_weight=4]`, `explore[mi_visual=soft,mi_visual_weight=3]`."""
    return f"{label}[{','.join(f'{k}={v:g}' if isinstance(v, (int, float)) else f'{k}={v}' for k, v in settings.items())}]"


def value_label(method: str, knob: Knob, value) -> str:
    return setting_label(method, knob.settings(value))


def val_average(rows: list[dict], label: str) -> dict:
    avg = next(s for s in summarise(rows, intervals=False) if s["label"] == label and s["dataset"] == "average")
    return {k: round(avg[k], 2) for k in ("base", "novel", "hm")}


def check_split_and_methods(split: str, methods) -> None:
    """Refuse, before any work, a search that would read test or a method without a knob."""
    if split != "val":
        raise BadInput(f"tuning reads the val split only (got --split {split}); test is run once, with the chosen "
                       "values (--test-out)")
    unknown = [m for m in methods if m not in KNOBS]
    if unknown:
        raise BadInput(f"no knob to tune for {', '.join(unknown)}; tunable: {', '.join(KNOBS)}")


def tune(methods, datasets, seeds, runs_out, *, split: str = "val", profile=None, train_overrides=None,
         **kwargs) -> dict:
    """Search each method's knob on `split` (val only); returns {method: evidence and choice}."""
    check_split_and_methods(split, methods)
    train_overrides = dict(train_overrides or {})
    out = {}
    for method in methods:
        knob = KNOBS[method]
        evidence = []
        for value in knob.values:
            label = value_label(method, knob, value)
            method_set, train_set = split_settings(knob.where, knob.settings(value))
            rows = run_benchmark([], datasets, seeds, runs_out, profile=profile, split="val",
                                 train_overrides={**train_overrides, **train_set},
                                 variants={label: (method, method_set)}, **kwargs)
            evidence.append({"value": value, "label": label, **val_average(rows, label)})
        best = max(evidence, key=lambda e: e["hm"])  # ties: the first (smaller) value
        default = (getattr(MethodConfig(), knob.name) if knob.where == "method" else
                   getattr(resolve_profile(profile).train_config(method, 0, train_overrides), knob.name))
        out[method] = {"knob": knob.name, "where": knob.where, "tied": dict(knob.tied), "default": default,
                       "values": list(knob.values), "val": evidence, "chosen": best["value"],
                       "settings": knob.settings(best["value"])}
        print(f"{method:<14} {knob.name} = {best['value']:g}  (val HM {best['hm']:.2f}; "
              + ", ".join(f"{e['value']:g}: {e['hm']:.2f}" for e in evidence) + ")")
    return out


def earlier_choices(out: Path, header: dict) -> dict:
    """The choices already in `out`, kept when they were searched the same way (profile, backbone and weights,
    device, shots, augmentation, datasets, seeds, training settings, runs file); a file searched differently is
    refused rather than mixed or replaced."""
    if not out.exists():
        return {}
    try:
        old = json.loads(out.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"{out} is not a readable tuning file ({type(e).__name__}); pass another --out") from None
    if not isinstance(old, dict) or old.get("format") != "dpt-tuning" or not isinstance(old.get("methods", {}), dict):
        raise BadInput(f"{out} is not a dpt tuning file (python -m dpt tune writes those); pass another --out, dpt "
                       "never overwrites a file it did not write")
    differ = [k for k in header if k != "version" and old.get(k) != header[k]]
    if differ:
        raise BadInput(f"{out} holds choices searched with other {', '.join(differ)}; pass another --out")
    return old.get("methods", {})


def split_settings(where: str, settings: dict) -> tuple[dict, dict]:
    """(method overrides, train overrides) for a knob's settings."""
    return (settings, {}) if where == "method" else ({}, settings)


def tuned_overrides(choice: dict) -> tuple[dict, dict]:
    """(method overrides, train overrides) for one method's chosen value."""
    return split_settings(choice["where"], choice.get("settings", {choice["knob"]: choice["chosen"]}))


def test_tuned(tuning: dict, datasets, seeds, out, *, train_overrides=None, **kwargs) -> list[dict]:
    """Each tuned method once on test with its chosen value, labelled `<method>_tuned`."""
    from .grid import say_reused
    rows, reused = [], []
    for method, choice in tuning.items():
        method_set, train_set = tuned_overrides(choice)
        rows += run_benchmark([], datasets, seeds, out, split="test",
                              train_overrides={**(train_overrides or {}), **train_set},
                              variants={f"{method}_tuned": (method, method_set)},
                              on_reuse=lambda n, where: reused.append((n, where)), **kwargs)
    if reused:  # one line for all the methods, not one each
        say_reused(sum(n for n, _ in reused), reused[-1][1])
    return rows


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m dpt tune", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=list(KNOBS), choices=list(KNOBS), metavar="METHOD",
                    help=f"methods whose knob to search: {', '.join(KNOBS)}")
    ap.add_argument("--split", default="val", help="must be val: the search never reads test")
    ap.add_argument("--out", default=None, help="the choices and their val evidence (default: "
                                                "results/<profile>/tuning.json)")
    ap.add_argument("--runs", default=None, help="results file for the val runs (default: "
                                                 "results/<profile>/tuning_runs.json)")
    ap.add_argument("--test-out", default=None, help="then run each method once on test with its choice, here")
    ap.add_argument("--test-datasets", nargs="+", default=None, metavar="DATASET",
                    help="datasets of that test run (default: the searched ones), e.g. miniature miniature-control "
                         "miniature-heldout: a dataset no choice looked at")
    add_run_arguments(ap)
    return ap


def main(argv=None):
    ap = parser()
    args = ap.parse_args(argv)
    check_split_and_methods(args.split, args.methods)
    kwargs = run_kwargs(args)
    profile = resolve_profile(kwargs.pop("profile"), kwargs.pop("backbone_name"), kwargs.pop("pretrained"),
                              kwargs.pop("device"), kwargs.pop("augment"), kwargs.pop("views"))
    out = profile.results_file("tuning") if args.out is None else check_target(args.out, "tuning file",
                                                                                 json_format("dpt-tuning"))
    args.runs = args.runs or str(profile.results_file("tuning_runs"))
    files = [Path(p).expanduser().resolve() for p in (out, args.runs, args.test_out) if p]
    if len(set(files)) < len(files):
        raise BadInput("--out, --runs and --test-out must be three different files (the choices, the val runs and "
                       "the test runs)")
    if args.test_datasets and not args.test_out:
        raise BadInput("--test-datasets needs --test-out (the file the test runs go to)")
    ResultsStore(args.runs)  # refuse an unusable runs file before any work
    if args.test_out:
        ResultsStore(args.test_out)
    datasets = resolve_dataset_names(args.datasets or profile.datasets)
    train = kwargs.pop("train_overrides")
    header = {"format": "dpt-tuning", "version": 2, "split": "val", "profile": profile.name,
              "backbone": profile.backbone, "weights": profile.pretrained, "device": profile.device,
              "shots": kwargs.get("shots") or profile.shots, "augment": profile.augment, "views": profile.views,
              "datasets": list(datasets), "seeds": list(args.seeds), "train": train, "runs": str(args.runs)}
    earlier_choices(out, header)  # refuse a file searched differently before any work
    command = recorded_command("tune", argv)
    tuning = tune(args.methods, datasets, args.seeds, args.runs, split=args.split, profile=profile,
                  train_overrides=train, **kwargs)
    out.parent.mkdir(parents=True, exist_ok=True)
    with locked(out):  # re-read: another search may have added its methods meanwhile
        kept = earlier_choices(out, header)
        write_json_atomic(out, {**header, "methods": {**kept, **{m: {**c, "command": command}
                                                                for m, c in tuning.items()}}},
                          kind="tuning file", own=json_format("dpt-tuning"))
    print(f"choices and evidence written to {out}" + (f" (kept: {', '.join(m for m in kept if m not in tuning)})"
                                                      if set(kept) - set(tuning) else ""))
    if args.test_out:
        tested = resolve_dataset_names(args.test_datasets) if args.test_datasets else datasets
        rows = test_tuned(tuning, tested, args.seeds, args.test_out, profile=profile, train_overrides=train, **kwargs)
        print(format_table(summarise(rows)))
