"""`python -m dpt search`: a staged search over dpt's variants, written down before it runs (a plan file).

    python -m dpt search --plan results/miniature-v2/dpt_search_plan.json

The plan (committed before any of its rows exist) fixes everything: the split (val only), datasets, seeds,
shots, and per stage the variants, each with its fixed options and one knob of six values, the budget tune's
search gives every method. Stage 1 searches dpt's own knob. Stage 2 adds one piece at a time, each taking the
stage-1 choice of the fields it `inherits`. Stage 3 combines, from each group of alternatives (stage-2 pieces
that set the same option), the best one if its val HM beat stage 1's, with the knob values stage 2 chose (one
setting, no knob). The variant with the highest val HM (the HM of
the dataset-averaged base and novel accuracy) becomes dpt's default. Every run's rows stay in --runs; the
choices and their evidence go to --out. Nothing reads test, and the plan's held-out dataset is never read.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import BadInput, cause
from .command_line import Parser, recorded_command
from ..files import check_target
from .writers import json_format, write_json_atomic
from ..methods import METHODS, MethodConfig
from .base2novel import run_benchmark
from .options import add_run_arguments, run_kwargs
from .profiles import resolve_profile
from .tune import setting_label, val_average

RESULT_FORMAT = "dpt-search-result"

PLAN_FORMAT = "dpt-search-plan"


def read_plan(path) -> dict:
    """The plan, checked whole before any run: its fields, every variant's settings and every reference between
    stages (a plan that fails half-way would leave a search no one pre-registered)."""
    from .datasets import resolve_dataset_names
    from .profiles import get_profile
    path = Path(path)
    try:
        plan = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"--plan {path} is not a readable plan ({type(e).__name__})") from None
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise BadInput(f"--plan {path} is not a search plan (format {PLAN_FORMAT!r})")
    try:
        return _check_plan(plan, path)
    except BadInput:
        raise
    except (TypeError, AttributeError, KeyError, ValueError) as e:  # a number where a list is due, and the like
        raise BadInput(f"--plan {path} is malformed ({cause(e)}); compare it with the committed plan's layout "
                       "(results/miniature-v1/dpt_search_plan.json)") from None


def _check_plan(plan: dict, path: Path) -> dict:
    from .datasets import resolve_dataset_names
    from .profiles import get_profile
    for key, kind in (("datasets", list), ("seeds", list), ("stages", list), ("held_out", list)):
        if key in plan and not isinstance(plan[key], kind):
            raise BadInput(f"--plan {path}: {key} must be a list, got {plan[key]!r}")
    missing = [k for k in ("profile", "split", "datasets", "seeds", "shots", "method", "values_per_knob", "stages")
               if k not in plan]
    if missing:
        raise BadInput(f"--plan {path} lacks {', '.join(missing)}")
    if plan["split"] != "val":
        raise BadInput("a search plan reads the val split only")
    get_profile(plan["profile"])
    if not isinstance(plan.get("defaults", {}), dict):
        raise BadInput(f"--plan {path}: defaults must be a mapping of method options")
    MethodConfig.from_dict(plan.get("defaults", {}))
    plan["datasets"] = resolve_dataset_names(plan["datasets"])
    held = set(resolve_dataset_names(plan.get("held_out", [])))
    if held & set(plan["datasets"]):
        raise BadInput(f"--plan {path}: held-out {sorted(held & set(plan['datasets']))} is also searched on")
    if not (isinstance(plan["seeds"], list) and plan["seeds"] and all(isinstance(s, int) for s in plan["seeds"])):
        raise BadInput(f"--plan {path}: seeds must be a list of whole numbers")
    known = set()
    for stage in plan["stages"]:
        if stage.get("combine"):
            c = stage["combine"]
            unknown = [x for x in [c.get("base"), *(v for g in c.get("groups", []) for v in g)] if x not in known]
            if unknown or "label" not in c:
                raise BadInput(f"--plan {path} stage {stage.get('stage')}: combine names unknown variants {unknown}")
            known.add(c["label"])
            continue
        for v in stage.get("variants", []):
            if not {"label", "method"} <= set(v) or v["method"] not in METHODS:
                raise BadInput(f"--plan {path}: a variant needs a label and a known method, got {v}")
            for field, src in v.get("inherit", {}).items():
                if src not in known:
                    raise BadInput(f"plan variant {v['label']} inherits {field} from {src!r}, not an earlier variant")
            values = v.get("values") or [None]
            for value in values:
                MethodConfig.from_dict({**v.get("fixed", {}), **({v["knob"]: value} if v.get("knob") else {})})
            if v.get("knob") and len(v["values"]) != plan["values_per_knob"]:
                raise BadInput(f"plan variant {v['label']}: {len(v['values'])} values, the budget is "
                               f"{plan['values_per_knob']} per knob")
            known.add(v["label"])
    return plan


def run_setting(method: str, label: str, settings: dict, plan: dict, runs, kw) -> dict:
    """One setting's val rows (run or reused) and their dataset average. The method's other options are the plan's
    `defaults` (the MethodConfig defaults in force when it ran), so a rerun repeats the same runs whatever the
    library's defaults have become since (the search itself changes them)."""
    rows = run_benchmark([], plan["datasets"], plan["seeds"], runs, split="val", shots=plan["shots"],
                         train_overrides=plan.get("train") or {},
                         variants={label: (method, {**plan.get("defaults", {}), **settings})}, **kw)
    return {"label": label, "settings": settings, **val_average(rows, label)}


def search(plan: dict, runs, **kw) -> dict:
    """Run every stage of `plan`; returns {variant label: evidence and choice} and the final choice."""
    results: dict = {}
    for stage in plan["stages"]:
        if stage.get("combine"):
            base = results[stage["combine"]["base"]]
            better = []  # from each group of alternatives (pieces that set the same option), the best, if it helped
            for group in stage["combine"]["groups"]:
                best = max((results[v] for v in group), key=lambda r: r["best"]["hm"])
                if best["best"]["hm"] > base["best"]["hm"]:
                    better.append(best)
            if not better:
                print(f"stage {stage['stage']}: no piece beat {base['label']} on val; nothing to combine")
                continue
            settings = {}
            for r in [base, *better]:
                settings.update(r["best"]["settings"])
            label = stage["combine"]["label"]
            e = run_setting(plan["method"], setting_label(label, settings), settings, plan, runs, kw)
            results[label] = {"label": label, "stage": stage["stage"], "combined": [r["label"] for r in better],
                              "val": [e], "best": e}
            print(f"stage {stage['stage']}: {label} = {' + '.join(r['label'] for r in better)}: val HM {e['hm']:.2f}")
            continue
        for v in stage["variants"]:
            inherited = {f: results[src]["best"]["settings"][f] for f, src in v.get("inherit", {}).items()}
            fixed = {**v.get("fixed", {}), **inherited}
            values = v["values"] if v.get("knob") else [None]
            evidence = []
            for value in values:
                settings = {**fixed, **({v["knob"]: value} if v.get("knob") else {})}
                evidence.append(run_setting(v["method"], setting_label(v["label"], settings), settings, plan, runs, kw))
            best = max(evidence, key=lambda e: e["hm"])  # ties: the first value
            results[v["label"]] = {"label": v["label"], "stage": stage["stage"], "knob": v.get("knob"),
                                   "values": v.get("values"), "fixed": fixed, "val": evidence, "best": best}
            print(f"stage {stage['stage']}: {v['label']:<22} best val HM {best['hm']:.2f} with {best['settings']}  ("
                  + ", ".join(f"{e['hm']:.2f}" for e in evidence) + ")")
    final = max(results.values(), key=lambda r: r["best"]["hm"])
    return {"variants": results, "chosen": {"label": final["label"], "settings": final["best"]["settings"],
                                            "val": {k: final["best"][k] for k in ("base", "novel", "hm")}}}


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m dpt search", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", required=True, help="the search plan (committed before the search)")
    ap.add_argument("--out", default=None, help="choices and evidence (default: beside the plan, <plan>_result.json)")
    ap.add_argument("--runs", default=None, help="results file for the val runs (default: the profile's search_runs)")
    ap.add_argument("--force", action="store_true", help="replace an --out that is not an earlier search's result")
    add_run_arguments(ap, grid=False)  # the plan fixes datasets, seeds, shots, profile and training settings
    return ap


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    plan = read_plan(args.plan)
    kw = run_kwargs(args)
    kw.pop("shots", None)
    kw.pop("train_overrides", None)
    profile = resolve_profile(plan["profile"], kw.pop("backbone_name"), kw.pop("pretrained"), kw.pop("device"),
                              kw.pop("augment"), kw.pop("views"))
    kw.pop("profile")
    out = args.out if args.out is not None else Path(args.plan).with_name(Path(args.plan).stem + "_result.json")
    out = check_target(out, "search result", json_format(RESULT_FORMAT), args.force, offer_force=True)
    runs = args.runs or str(profile.results_file("search_runs"))
    if Path(runs).resolve() == out.resolve():
        raise BadInput("--out and --runs must be different files")
    if out.resolve() == Path(args.plan).expanduser().resolve():
        raise BadInput(f"--out {args.out} is the plan itself: a search never replaces its pre-registered plan; "
                       "give another --out")
    result = search(plan, runs, profile=profile, **kw)
    command = recorded_command("search", argv)
    write_json_atomic(out, {"format": RESULT_FORMAT, "plan": str(args.plan), "command": command, **result},
                      kind="search result", own=json_format(RESULT_FORMAT), force=args.force)
    print(f"chosen: {result['chosen']['label']} {result['chosen']['settings']} (val HM {result['chosen']['val']['hm']:.2f});"
          f" written to {out}")
