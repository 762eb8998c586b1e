"""`python -m dpt <command>`

  info        environment, device and the miniature backbone
  base2novel  train and evaluate methods on base/novel classes (see --help)
  ablate      the dual-view method with one piece changed at a time (see --help)
  transfer    train on all classes of a source, score other datasets and domains (see --help)
  shots       few-shot curves: all classes, 1 to 16 shots (see --help)
  tune        the same val search of every method's main knob, then one test run with the choice (see --help)
  search      a pre-registered staged search over dpt's variants (a plan file), val only (see --help)
  compare     a results file's table with 95% bootstrap intervals, and paired differences between methods
  recipes     each method's reference recipe (epochs, batch, lr, context, ...) with its source, as a table
  data        which benchmark datasets are under --data-root, and what is missing (see --help)
  evaluate    score saved prompts (--save-prompts) on datasets, without training (see --help)
  predict     classify your images with a saved prompt, or export its class features for open_clip (see --help)
  course      execute every notebook in notebooks/ top to bottom, in place (outputs and figures)
  colab       give every notebook the Colab badge and install cell for dpt.experiments.colab.REPOSITORY
  pretrain    pretrain a miniclip (v1 or v2) on ShapeWorld, resumable (see --help)
"""
import argparse
import sys
import time
from pathlib import Path

from ..errors import BadInput, cause
from .command_line import Parser, run_cli


def info_parser() -> argparse.ArgumentParser:
    return Parser(prog="python -m dpt info", description="environment, device and the miniatures")


def info(argv=None) -> None:
    """What this dpt has, checked as it is reported: a shipped checkpoint or record that is missing or does not
    read makes the report end in one line and a non-zero exit (a package copy that lost a file is not healthy)."""
    info_parser().parse_args(argv)
    import platform

    import open_clip
    import torch

    from ..backbones import MINICLIPS, load_backbone, miniclip_info
    from ..errors import DptError, MissingData
    from .profiles import DEFAULT_MINIATURE, get_profile
    from .recipes import RECIPES_FILE, recipes
    print(f"python {platform.python_version()}  torch {torch.__version__}  open_clip {open_clip.__version__}")
    print(f"device: {'cuda (' + torch.cuda.get_device_name(0) + ')' if torch.cuda.is_available() else 'cpu'}")
    print(f"default miniature: {DEFAULT_MINIATURE} (backbone {get_profile(DEFAULT_MINIATURE).backbone}; "
          "docs/miniature.md says why)")
    problems = []
    for version, spec in MINICLIPS.items():
        record = spec.checkpoint.with_suffix(".json")
        try:
            n = sum(p.numel() for p in load_backbone(version).model.parameters())
            rec = miniclip_info(version)
            line = (f"{version}: {n / 1e6:.2f}M parameters, pretrained {rec['steps']} steps on ShapeWorld "
                    f"({spec.world}), final loss {rec['final_loss']:.3f}")
            probes = [f"  zero-shot {name:<12} base {r['base']:.1f}  novel {r['novel']:.1f}  (val)"
                     for name, r in rec.get("zero_shot", {}).items()]
        except DptError as e:  # the checkpoint: missing, damaged, another model's
            problems.append(f"{version}: {e}")
            print(f"{version}: BROKEN (its checkpoint {spec.checkpoint.name})")
            continue
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:  # the record beside it
            problems.append(f"{version}: its record {record} is missing or damaged ({cause(e)})")
            print(f"{version}: BROKEN (its record {record.name})")
            continue
        print(line, *probes, sep="\n")
    try:
        recipes()
    except DptError as e:
        problems.append(str(e))
    if problems:
        raise MissingData(f"this dpt is incomplete: {'; '.join(problems)}; restore dpt/assets/ and {RECIPES_FILE.name} "
                          "(git checkout dpt/), or reinstall dpt")


def course_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m dpt course",
                description="execute every notebook of FOLDER top to bottom, in place (outputs, figures)")
    ap.add_argument("folder", nargs="?", default="notebooks", help="the folder of the course notebooks")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds a cell may run (default 1800)")
    ap.add_argument("--write-minutes", action="store_true",
                    help="run no notebook: copy the recorded minutes (notebooks/run_times.json) into the course tables "
                         "of README.md and docs/teaching.md")
    return ap


def course(argv=None) -> None:
    """Run the notebook course in place, in order, so stored outputs and figures/ are regenerated."""
    from .course import ROOT, profile_of, record_run_time, run_times_target, tables_behind_the_record, write_minutes
    args = course_parser().parse_args(argv)
    ours = Path(args.folder).resolve() == ROOT / "notebooks"
    if args.write_minutes:
        if args.folder != "notebooks" and not ours:
            raise BadInput(f"--write-minutes copies {ROOT / 'notebooks' / 'run_times.json'} into the course tables; "
                           f"it takes no folder (got {args.folder})")
        print(f"minutes written into {', '.join(write_minutes()) or 'nothing (the tables show the record)'}")
        return
    if args.timeout < 1:
        raise BadInput(f"--timeout must be at least 1 second, got {args.timeout}")
    from nbclient import NotebookClient
    from tqdm.auto import tqdm

    from .writers import read_notebooks, write_notebook
    books = read_notebooks(args.folder)
    run_times_target(args.folder)  # a file there that is not a run-time record stops the course before any notebook
    start = time.time()
    for path, nb in tqdm(books, desc="notebooks"):
        t0 = time.time()
        NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        write_notebook(nb, path)
        record_run_time(path, time.time() - t0, profile_of(nb) or "unknown profile")
        print(f"executed {path} in {time.time() - t0:.0f} s")
    print(f"course: {len(books)} notebooks in {(time.time() - start) / 60:.1f} min")
    if ours and (behind := tables_behind_the_record()):
        print(f"the course tables of {' and '.join(behind)} show other minutes than these; "
              "`python -m dpt course --write-minutes` copies these into them")


def main() -> None:
    run_cli(dispatch, options=options_of_this_command)  # bad input: one line, no traceback, exit status 2


def options_of_this_command() -> set[str] | None:
    """The option strings of the `python -m dpt <command>` that is running (None where there is none)."""
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in COMMANDS:
        return None
    return {o for action in parser_of(command)._actions for o in action.option_strings}


# command -> (module of dpt.experiments, its entry point, its parser); each takes the rest of the command line
COMMANDS = {"base2novel": ("base2novel", "main", "parser"), "ablate": ("ablation", "main", "parser"),
            "transfer": ("transfer", "transfer_main", "transfer_parser"), "shots": ("transfer", "shots_main", "shots_parser"),
            "tune": ("tune", "main", "parser"), "compare": ("compare", "main", "parser"),
            "colab": ("colab", "main", "parser"), "data": ("data_check", "main", "parser"),
            "recipes": ("recipes", "main", "parser"), "evaluate": ("prompt_files", "evaluate_main", "evaluate_parser"),
            "predict": ("prompt_files", "predict_main", "predict_parser"), "info": ("cli", "info", "info_parser"),
            "search": ("search", "main", "parser"), "pretrain": ("pretrain", "main", "parser"),
            "course": ("cli", "course", "course_parser")}


def parser_of(command: str) -> argparse.ArgumentParser:
    """The argument parser of `command` (the bad-input sweep reads every option from it)."""
    import importlib
    module, _, build = COMMANDS[command]
    return getattr(importlib.import_module(f".{module}", __package__), build)()


def dispatch() -> None:
    import importlib
    cmd, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("help", [])
    if cmd in COMMANDS:
        module, entry, _ = COMMANDS[cmd]
        getattr(importlib.import_module(f".{module}", __package__), entry)(rest)
    else:
        print(__doc__)
        sys.exit(0 if cmd in ("help", "-h", "--help") else 2)
