"""The package's architecture, checked from its sources: two layers and no import circle.

* The library (`dpt/` outside `dpt/experiments/`) never imports the experiment layer (`dpt/experiments/` and
  the command line's entry point `dpt/__main__.py`).
* No module under `dpt/` imports another in a circle.

Imports are read with `ast`, so imports inside functions count as much as those at the top. A package's
`__init__` importing its own submodules is an edge like any other; the parent package that Python imports
before a submodule is not (it is not a dependency the code chose).
"""
import ast
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ("dpt.experiments", "dpt.__main__")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path, package: str = "dpt") -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of `known` that module `name` (at `path`) imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import sub` names the submodule where `sub` is one, else the module `pkg` itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `import dpt.methods.coop` -> dpt.methods.coop; `dpt.x.Y` -> dpt.x
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def graph(root: Path) -> dict[str, set[str]]:
    mods = modules(root)
    return {name: imports(path, name, set(mods)) for name, path in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def in_experiments(name: str) -> bool:
    return any(name == e or name.startswith(e + ".") for e in EXPERIMENTS)


def layer_violations(g: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, deps in g.items() if not in_experiments(a) for b in deps if in_experiments(b))


def test_no_import_circle_under_dpt():
    assert cycles(graph(ROOT)) == []


def test_the_library_never_imports_the_experiment_layer():
    g = graph(ROOT)
    assert layer_violations(g) == []
    assert any(in_experiments(m) for m in g) and any(not in_experiments(m) for m in g)  # both layers exist


def test_the_library_parses_no_command_line():
    """Commands live in the experiment layer: no library module imports argparse (dpt.pretrain's command moved
    to dpt.experiments.pretrain, argparse's one-line Parser to dpt.experiments.command_line)."""
    import ast
    offenders = []
    for path in sorted((ROOT / "dpt").rglob("*.py")):
        if "experiments" in path.relative_to(ROOT / "dpt").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) else []
            if any(n and n.split(".")[0] == "argparse" for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def _tree(tmp_path, files: dict[str, str]) -> Path:
    for rel, src in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(src))
    return tmp_path


def test_the_checker_finds_a_planted_circle_and_a_planted_upward_import(tmp_path):
    """The checks above can fail: a circle through an import inside a function, and a library module reaching
    into the experiment layer, are both found in a small synthetic package."""
    root = _tree(tmp_path, {
        "dpt/__init__.py": "",
        "dpt/a.py": "from .b import f\n",
        "dpt/b.py": "def f():\n    from . import a\n    return a\n",
        "dpt/c.py": "def g():\n    from .experiments.grid import run_grid\n",
        "dpt/methods/__init__.py": "from .coop import CoOp\n",
        "dpt/methods/coop.py": "from .registry import register\n",
        "dpt/methods/registry.py": "METHODS = {}\n",
        "dpt/experiments/__init__.py": "",
        "dpt/experiments/grid.py": "from ..methods import METHODS\n",
    })
    g = graph(root)
    assert cycles(g) == [["dpt.a", "dpt.b"]]
    assert layer_violations(g) == ["dpt.c -> dpt.experiments.grid"]
    # a package importing its own submodules, which import a sibling, is no circle
    assert g["dpt.methods"] == {"dpt.methods.coop"} and g["dpt.methods.coop"] == {"dpt.methods.registry"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dpt.methods", "dpt.trainer", "dpt.run", "dpt.inputs"])
def test_library_modules_import_without_the_experiment_layer(name):
    """Importing a library module in a fresh interpreter loads no module of the experiment layer."""
    import subprocess
    import sys
    code = (f"import sys, {name}; bad = [m for m in sys.modules if m.startswith('dpt.experiments')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def library_files(root: Path = ROOT) -> list[Path]:
    return [p for p in sorted((root / "dpt").rglob("*.py")) if "experiments" not in p.relative_to(root / "dpt").parts
            and p.name != "__main__.py"]


def environment_reads(path: Path) -> list[str]:
    """Where a module reads the environment (os.environ, os.getenv, os.putenv), as 'file:line'."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.attr] if isinstance(node, ast.Attribute) else [node.id] if isinstance(node, ast.Name) else \
            [a.name for a in node.names] if isinstance(node, ast.ImportFrom) and node.module == "os" else []
        if any(n in ("environ", "getenv", "environb") for n in names):
            out.append(f"{path.name}:{node.lineno}")
    return out


def long_functions(path: Path, limit: int = 60) -> list[str]:
    return [f"{path.name}:{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > limit]


def test_the_library_reads_no_environment_variable():
    """Paths and weights are arguments: the commands and the course resolve $DPT_CACHE, $DPT_PRETRAINED, ..."""
    assert [r for p in library_files() for r in environment_reads(p)] == []


def test_no_library_function_is_longer_than_60_lines():
    assert [f for p in library_files() for f in long_functions(p)] == []


def test_the_dual_view_method_and_the_training_loop_stay_short():
    """The course's central method reads top to bottom (its rejected variants live beside it), and so does the
    trainer's loop (checkpoints, scaling and error translation live in the helpers it calls)."""
    assert len((ROOT / "dpt/methods/dual_view.py").read_text().splitlines()) <= 100
    loop = next(n for n in ast.walk(ast.parse((ROOT / "dpt/trainer.py").read_text()))
                if isinstance(n, ast.FunctionDef) and n.name == "train")
    assert loop.end_lineno - loop.lineno + 1 <= 60


def test_the_size_and_environment_checks_find_planted_offenders(tmp_path):
    root = _tree(tmp_path, {
        "dpt/a.py": "import os\nCACHE = os.environ.get('X')\n",
        "dpt/b.py": "from os import getenv\n\ndef f():\n    return getenv('X')\n",
        "dpt/c.py": "def g():\n" + "    x = 1\n" * 60,
        "dpt/experiments/d.py": "import os\nY = os.environ['Y']\n",
    })
    files = library_files(root)
    assert [r for p in files for r in environment_reads(p)] == ["a.py:2", "b.py:1", "b.py:4"]
    assert [f for p in files for f in long_functions(p)] == ["c.py:g (61 lines)"]


LIBRARY_BOUND = 3000  # lines: the bound on the library outside the lab, the course module and the data generators
GENERATORS = ("dpt/data/world.py", "dpt/data/objects.py", "dpt/data/miniature.py")


def library_lines(root: Path = ROOT) -> dict[str, int]:
    """Lines of every .py under dpt/ outside the lab (dpt/experiments/, which holds the course module) and the
    miniature's data generators, by file."""
    out = {}
    for p in sorted((root / "dpt").rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if not rel.startswith("dpt/experiments/") and rel not in GENERATORS:
            out[rel] = len(p.read_text().splitlines())
    return out


def test_the_library_is_within_its_line_bound():
    total = sum(library_lines().values())
    assert total <= LIBRARY_BOUND, f"{total} lines (bound {LIBRARY_BOUND}): {library_lines()}"


def test_the_line_count_finds_a_planted_offender(tmp_path):
    """Counted: the library (its __main__ too); not counted: the lab, the course module, the data generators."""
    root = _tree(tmp_path, {
        "dpt/__init__.py": "x = 1\n",
        "dpt/__main__.py": "y = 1\n",
        "dpt/big.py": "z = 1\n" * 5000,
        "dpt/data/world.py": "w = 1\n" * 9000,
        "dpt/data/dataset.py": "d = 1\n",
        "dpt/experiments/course.py": "c = 1\n" * 9000,
    })
    lines = library_lines(root)
    assert lines == {"dpt/__init__.py": 1, "dpt/__main__.py": 1, "dpt/big.py": 5000, "dpt/data/dataset.py": 1}
    assert sum(lines.values()) > LIBRARY_BOUND  # the planted file alone breaks the bound


COURSE = "dpt.experiments.course"


def notebook_lab_imports(notebook: Path) -> set[str]:
    """The modules of the lab (dpt.experiments.*, dpt.__main__) a notebook's code cells import, the course module
    aside: a notebook imports the library and the course module, nothing else of the lab."""
    import json
    found = set()
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "\n".join(line for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                if node.module == "dpt.experiments":
                    names = [f"dpt.experiments.{a.name}" for a in node.names]
            else:
                continue
            found |= {n for n in names if n.startswith(EXPERIMENTS) and n != "dpt.experiments"
                      and not n.startswith(COURSE)}
    return found


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_import_the_library_and_the_course_module_only(notebook):
    assert notebook_lab_imports(notebook) == set()


def test_the_notebook_import_check_finds_a_planted_lab_import(tmp_path):
    import json
    nb = tmp_path / "x.ipynb"
    cells = [{"cell_type": "code", "source": ["from dpt.experiments import course\n", "import dpt.run\n"]},
             {"cell_type": "code", "source": ["from dpt.experiments import store, course\n"]},
             {"cell_type": "code", "source": ["from dpt.experiments.claims import claim\n"]}]
    nb.write_text(json.dumps({"cells": cells}))
    assert notebook_lab_imports(nb) == {"dpt.experiments.store", "dpt.experiments.claims",
                                        "dpt.experiments.claims.claim"}
