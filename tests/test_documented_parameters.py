"""Every public operator, sensor and trigger documents each of its parameters (``:param name:``),
what it returns or raises where it does, and points to its README section (``.. seealso::``),
as the amazon provider's classes do."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import fargate_provider

PACKAGES = ("operators", "sensors", "triggers")


def public_classes():
    found = []
    for package in PACKAGES:
        module_package = importlib.import_module(f"fargate_provider.{package}")
        for info in pkgutil.iter_modules(module_package.__path__):
            module = importlib.import_module(f"fargate_provider.{package}.{info.name}")
            for name, cls in vars(module).items():
                if (
                    inspect.isclass(cls)
                    and cls.__module__ == module.__name__
                    and name.startswith("Fargate")
                    and not name.endswith("Mixin")
                ):
                    found.append(cls)
    return found


def documented(doc: str) -> set[str]:
    names = set()
    for match in re.finditer(r":param ([\w, ]+):", doc):
        names.update(part.strip() for part in match.group(1).split(","))
    return names


def own_parameters(cls) -> list[str]:
    signature = inspect.signature(cls.__init__)
    return [
        p.name
        for p in signature.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


CLASSES = public_classes()


def test_the_walk_finds_the_classes():
    names = {cls.__name__ for cls in CLASSES}
    assert {
        "FargateRunTaskOperator",
        "FargateCreateServiceOperator",
        "FargateServiceStableSensor",
        "FargateTaskTrigger",
        "FargateBaseTrigger",
    } <= names, names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_each_parameter_is_documented_with_a_pointer_to_the_readme(cls):
    doc = inspect.getdoc(cls) or ""
    missing = [name for name in own_parameters(cls) if name not in documented(doc)]
    assert not missing, f"{cls.__name__}: no ':param' for {missing}"
    if cls.__name__ != "FargateBaseTrigger":
        assert ".. seealso::" in doc, f"{cls.__name__}: no '.. seealso::' to its README section"
    # The class is the provider's own, defined in the package's source (not re-exported from elsewhere).
    assert cls.__module__.startswith(f"{fargate_provider.__name__}."), f"{cls.__name__} is from {cls.__module__}"
    assert Path(inspect.getfile(cls)).is_relative_to(Path(fargate_provider.__file__).parent), inspect.getfile(cls)
