"""The install lists agree, and the README's two commands are the ones CI and users run."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_and_pyproject_name_the_same_packages():
    pp = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    from_pyproject = {_name(r) for r in pp["dependencies"] + pp["optional-dependencies"]["dev"]}
    yml = (ROOT / "environment.yml").read_text()
    pip_section = yml.split("- pip:")[1]
    from_env = {_name(l.strip()[2:]) for l in pip_section.splitlines() if l.strip().startswith("- ")}
    assert from_env == from_pyproject


def test_torch_pins_agree():
    pins = dict(l.split("==") for l in (ROOT / "constraints.txt").read_text().splitlines() if "==" in l)
    yml = (ROOT / "environment.yml").read_text()
    for pkg, ver in pins.items():
        assert f"{pkg}=={ver}" in yml


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [l for l in block.splitlines() if l.strip() and not l.startswith("#")]
    assert commands == ["make course", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert [l for l in ci.splitlines() if l.strip() and not l.startswith(("#", "set ", "cd "))] == ["make test"]
