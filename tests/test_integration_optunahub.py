"""The OptunaHub package in ``docs/optunahub``: it loads, runs and follows the registry's rules."""

from __future__ import annotations

from collections.abc import Iterator
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
import types

import optuna
from packaging.requirements import Requirement
import pytest
import yaml

import optuna_amoeba


optunahub = pytest.importorskip("optunahub", reason="optunahub is not installed (extra 'hub')")

ROOT = Path(__file__).resolve().parent.parent
REGISTRY_ROOT = ROOT / "docs" / "optunahub" / "package"
PACKAGE = "samplers/aging_evolution"
PACKAGE_DIR = REGISTRY_ROOT / PACKAGE
MODULE_NAME = "optunahub_registry.package.samplers.aging_evolution"

pytestmark = pytest.mark.usefixtures("quiet_optuna")


@pytest.fixture
def hub_module() -> Iterator[types.ModuleType]:
    yield optunahub.load_local_module(package=PACKAGE, registry_root=str(REGISTRY_ROOT))
    sys.modules.pop(MODULE_NAME, None)


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    layers = trial.suggest_int("layers", 1, 8)
    activation = trial.suggest_categorical("activation", ["relu", "gelu", "tanh"])
    return x**2 + abs(layers - 3) + (activation != "gelu")


def _lineage_and_params(sampler: optuna.samplers.BaseSampler) -> list[tuple[object, ...]]:
    study = optuna.create_study(sampler=sampler)
    study.optimize(_objective, n_trials=40)
    return [
        (
            trial.system_attrs["amoeba:mutation"],
            trial.system_attrs["amoeba:parent"],
            tuple(sorted(trial.params.items())),
        )
        for trial in study.trials
    ]


def test_local_module_is_the_library_sampler(hub_module: types.ModuleType) -> None:
    assert hub_module.AgingEvolutionSampler is optuna_amoeba.AgingEvolutionSampler
    assert hub_module.__all__ == ["AgingEvolutionSampler"]

    loaded = _lineage_and_params(hub_module.AgingEvolutionSampler(seed=3))
    direct = _lineage_and_params(optuna_amoeba.AgingEvolutionSampler(seed=3))
    assert loaded == direct
    mutations = [mutation for mutation, _, _ in loaded]
    assert mutations[:10] == ["random"] * 10
    assert all(mutation != "random" for mutation in mutations[10:])
    # After the random start a trial is evolved (it has a parent) or TPE's (it has none).
    assert all((parent is None) == (mutation == "tpe") for mutation, parent, _ in loaded[10:])


def test_missing_library_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna_amoeba", None)  # makes the import fail
    try:
        with pytest.raises(ModuleNotFoundError) as raised:
            optunahub.load_local_module(package=PACKAGE, registry_root=str(REGISTRY_ROOT))
    finally:
        sys.modules.pop(MODULE_NAME, None)
    assert raised.value.name == "optuna_amoeba"
    assert (
        "pip install -r https://hub.optuna.org/samplers/aging_evolution/requirements.txt"
        in str(raised.value)
    )


def _readme() -> str:
    return (PACKAGE_DIR / "README.md").read_text()


def _readme_python_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", _readme(), flags=re.DOTALL)
    assert len(blocks) == 1, "the README's Example section holds one python block"
    return str(blocks[0])


def _run_from_registry_cache(script: Path, cache: Path) -> str:
    # optunahub.load_module reads a package already in its cache instead of downloading it:
    # seed the cache with this package where the registry's copy will land once merged.
    cached = cache / "github.com" / "optuna" / "optunahub-registry" / "main" / "package"
    shutil.copytree(PACKAGE_DIR, cached / PACKAGE)
    env = {**os.environ, "OPTUNAHUB_CACHE_HOME": str(cache)}
    completed = subprocess.run(
        [sys.executable, str(script)],
        cwd=cache,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.mark.slow
def test_example_runs_through_load_module(tmp_path: Path) -> None:
    output = _run_from_registry_cache(PACKAGE_DIR / "example.py", tmp_path / "cache")

    best = re.search(r"^best value (\S+) with \{.*'activation': 'gelu'.*\}$", output, re.M)
    assert best is not None, output
    assert float(best.group(1)) < 0.5
    lineage = re.findall(r"^  trial +(\d+) \((\w+)\): (\S+)$", output, re.M)
    assert len(lineage) >= 2, output
    # A lineage goes back to a founder without a parent: a random trial or one of TPE's.
    assert all(mutation not in {"random", "tpe"} for _, mutation, _ in lineage[:-1])
    assert lineage[-1][1] in {"random", "tpe"}
    numbers = [int(number) for number, _, _ in lineage]
    assert numbers == sorted(numbers, reverse=True)


@pytest.mark.slow
def test_readme_example_runs_through_load_module(tmp_path: Path) -> None:
    script = tmp_path / "readme_example.py"
    script.write_text(_readme_python_block())
    output = _run_from_registry_cache(script, tmp_path / "cache")
    assert "'activation': 'gelu'" in output


def test_readme_follows_the_registry_template() -> None:
    readme = _readme()
    header = re.match(r"---\n(.*?)\n---\n", readme, flags=re.DOTALL)
    assert header is not None, "README.md starts with a front-matter header"
    fields = yaml.safe_load(header.group(1))
    # The registry's header check (header_confirm.py) and its rules for samplers.
    for key in ("author", "title", "description", "license"):
        assert isinstance(fields[key], str) and fields[key], key
    assert fields["license"] == "MIT License"
    assert isinstance(fields["tags"], list) and "sampler" in fields["tags"]
    assert all(isinstance(tag, str) for tag in fields["tags"])
    versions = fields["optuna_versions"]
    assert isinstance(versions, list) and versions
    assert all(isinstance(v, str) and re.fullmatch(r"\d+\.\d+\.\d+", v) for v in versions)

    for section in ("## Abstract", "## APIs", "## Installation", "## Example", "## Others"):
        assert f"\n{section}\n" in readme, section
    assert "Real" in readme and "AAAI" in readme
    assert re.search(r"<[A-Za-z!/]", readme) is None, "the registry strips HTML tags"
    # Submitted code loads from the registry, never from a local directory or a fork.
    for text in (readme, (PACKAGE_DIR / "example.py").read_text()):
        assert 'load_module(package="samplers/aging_evolution")' in text
        for local in ("load_local_module", "registry_root", "repo_owner", "ref="):
            assert local not in text


def test_package_files_follow_the_registry_template() -> None:
    names = {path.name for path in PACKAGE_DIR.iterdir() if path.name != "__pycache__"}
    assert names == {"__init__.py", "README.md", "LICENSE", "example.py", "requirements.txt"}
    license_text = (PACKAGE_DIR / "LICENSE").read_text()
    assert license_text.startswith("MIT License\n")
    assert "<COPYRIGHT HOLDER>" not in license_text


def test_requirements_name_this_library_at_its_version() -> None:
    lines = (PACKAGE_DIR / "requirements.txt").read_text().split("\n")
    requirements = [Requirement(line) for line in lines if line.strip()]
    assert [r.name for r in requirements] == ["optuna-amoeba"]
    assert requirements[0].specifier.contains(optuna_amoeba.__version__)
