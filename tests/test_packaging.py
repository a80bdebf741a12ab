"""pyproject.toml is the single source of dependencies; environment.yml mirrors it."""
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in conda and "pip" in conda
    assert project["requires-python"].startswith(">=3.11")
    assert sorted(pip) == sorted(declared), "environment.yml's pip list must equal pyproject's dependencies + dev"


def test_makefile_pins_a_torch_that_satisfies_pyproject():
    makefile = (ROOT / "Makefile").read_text()
    pinned = next(line.split("?=")[1].strip() for line in makefile.splitlines() if line.startswith("TORCH"))
    assert pinned == "torch==2.13.0"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch>=2.2" in project["dependencies"]
