"""Three distributions, one direction of use: the rules (fargate-rules) import neither Airflow nor moto;
the emulator (fargate-local) imports no Airflow and no provider code; the provider never imports the
emulator or moto, and its wheel does not carry them."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Imports the named top-level packages refuse, then every module of a package is imported.
_IMPORT_ALL_WITHOUT = """
import importlib, pkgutil, sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} imported")

BLOCKED = set(sys.argv[2].split(","))
sys.meta_path.insert(0, Refuse())
package = importlib.import_module(sys.argv[1])
modules = pkgutil.walk_packages(getattr(package, "__path__", []), package.__name__ + ".")
names = [m.name for m in modules if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(len(names) + 1)
"""


def _import_all_without(package: str, blocked: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL_WITHOUT, package, blocked], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.split()[-1])


def test_the_rules_import_neither_airflow_nor_moto():
    """botocore they may: the validator checks structure against ECS's API model as botocore ships it."""
    assert _import_all_without("fargate_rules", "airflow,moto,fargate_provider,fargate_local,boto3") >= 8


def test_the_emulator_imports_without_airflow_or_the_provider():
    assert _import_all_without("fargate_local", "airflow,fargate_provider") >= 15


@pytest.mark.parametrize(
    "module",
    [
        "fargate_provider.preflight",
        "fargate_provider.state",
        "fargate_provider.utils.pricing",
        "fargate_provider.environments.cost",
    ],
)
def test_the_providers_judgement_pricing_and_preflight_import_no_airflow(module):
    """The provider's pure parts (state judgement, pricing, cost, preflight's checks) import no Airflow:
    they are checked strictly by mypy and run in the fast tier."""
    assert _import_all_without(module, "airflow,moto,fargate_local") >= 1


def test_the_refusal_itself_works():
    """The check above would pass vacuously if blocking did nothing."""
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL_WITHOUT, "fargate_provider.operators", "airflow"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode != 0 and "airflow" in done.stderr and "imported" in done.stderr


def _imported_roots(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                roots = {node.module.split(".")[0]}
            else:
                continue
            for root in roots:
                found.setdefault(root, set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_provider_never_imports_the_emulator_or_moto():
    roots = _imported_roots(ROOT / "provider" / "fargate_provider")
    assert "fargate_local" not in roots and "moto" not in roots, {k: roots.get(k) for k in ("fargate_local", "moto")}
    assert "fargate_rules" in roots  # it reads the rules from their one place


@pytest.mark.parametrize("folder", ["rules/fargate_rules", "local/fargate_local"])
def test_the_rules_and_the_emulator_never_import_the_provider_at_module_level(folder):
    """The emulator's ``airflow-variables`` command alone reads the provider's settings, inside the function
    (it prints Variables for Airflow, so it runs where the provider is installed)."""
    for path in (ROOT / folder).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("fargate_provider", "airflow")), f"{path}: {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith(("fargate_provider", "airflow")) for a in node.names), path


def test_the_provider_wheel_carries_neither_the_emulator_nor_the_rules(tmp_path):
    # Built from a copy of what the wheel is made of, so setuptools' build/ lands in tmp_path, not the repo.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "provider", source / "provider", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = tmp_path.glob("airflow_provider_fargate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("fargate_provider/operators/") for n in names)
    assert not [n for n in names if n.startswith(("fargate_local/", "fargate_rules/", "fargate_provider/local/"))]
    metadata = next(n for n in names if n.endswith("METADATA"))
    requires = [
        line for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines() if line.startswith("Requires-Dist")
    ]
    assert "Requires-Dist: fargate-rules" in requires
    assert not [r for r in requires if r.startswith("Requires-Dist: moto") and "extra" not in r]


def test_one_module_of_the_emulator_touches_moto():
    """moto is pinned and its internals change between releases: moto_bridge.py alone imports and patches it."""
    roots = _imported_roots(ROOT / "local" / "fargate_local")
    assert roots["moto"] == {"local/fargate_local/moto_bridge.py"}
