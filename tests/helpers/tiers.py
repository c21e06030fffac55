"""Test tiers: every test is marked by what it needs, so ``-m`` can leave out the slow ones.

``emulator``: the local ECS emulator; ``airflow``: Airflow's metadata DB or a real Airflow;
``browser``: headless Chromium; ``topology``: docker-compose.yaml's stack run as processes.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression

TESTS = Path(__file__).resolve().parents[1]
TIERS = ("emulator", "airflow", "browser", "topology")
# A test that uses one of these fixtures (or a fixture that depends on one) needs that tier.
TIER_FIXTURES = {
    "emulator": frozenset({"local_ecs", "emulator", "ecs", "aws_endpoint"}),
    "airflow": frozenset({"airflow_db", "airflow", "user_dags"}),
    "browser": frozenset({"chromium"}),
}
# Tests that start what they need themselves (processes, servers), by path under tests/.
TIER_PATHS = {
    "emulator/": {"emulator"},
    "contract/": {"emulator"},  # against the emulator unless FARGATE_CONTRACT_AWS=1
    "test_airflow_standalone.py": {"airflow", "emulator"},  # make airflow: Airflow and fargate-local
    "test_fargate_env_cli.py": {"airflow", "emulator"},  # fargate-env against make airflow's stack
    "test_demo.py": {"airflow", "emulator"},  # make demo: airflow dags test against fargate-local
}
# docker-compose.yaml's stack: that tier only (its ``emulator`` fixture is a client of the stack's own).
TOPOLOGY_PATHS = ("topology/test_compose_topology.py",)


def tiers_of(item: pytest.Item) -> set[str]:
    """The tiers a collected test needs, from its path and the fixtures it uses."""
    path = Path(item.path).resolve().relative_to(TESTS).as_posix()
    if path in TOPOLOGY_PATHS:
        return {"topology"}
    tiers = {tier for tier, names in TIER_FIXTURES.items() if names & set(item.fixturenames)}
    for prefix, needs in TIER_PATHS.items():
        if path.startswith(prefix) if prefix.endswith("/") else path == prefix:
            tiers |= needs
    return tiers


def excluded(config: pytest.Config, tier: str) -> bool:
    """Whether the -m selection leaves out every test marked ``tier``, whatever else it is marked."""
    expression = config.getoption("markexpr", None)
    if not expression:
        return False
    compiled = Expression.compile(expression)
    others = [other for other in TIERS if other != tier]
    for size in range(len(others) + 1):
        for combination in itertools.combinations(others, size):
            marks = {tier, *combination}
            if compiled.evaluate(lambda name, /, _marks=marks, **_: name in _marks):
                return False
    return True


def refuse_unless_selected(request: pytest.FixtureRequest, tier: str) -> None:
    """In a fixture of ``tier``: fail when the selection excludes that tier (the test was not marked)."""
    if excluded(request.config, tier):
        pytest.fail(
            f"fixture {request.fixturename!r} needs the {tier} tier, which the -m selection excludes: "
            f"the test should have been marked {tier} (tests/helpers/tiers.py: TIER_FIXTURES)",
            pytrace=False,
        )


# Rough seconds a test of each kind takes, to start the longest files first (``heaviest_files_first``).
_COST = {"topology": 80.0, "browser": 100.0, "process": 60.0, "airflow": 12.0, "emulator": 2.0}


def heaviest_files_first(items: list[pytest.Item]) -> None:
    """Order the collected tests file by file, the files that take longest first (estimated from
    their tiers; a file whose tests start their own processes counts as such), keeping each file's
    own order. Under ``-n 4 --dist loadfile --no-loadscope-reorder`` the long files then start at
    once on separate workers and the short ones fill in around them, instead of a long file
    starting last and running alone."""
    weights: dict[str, float] = {}
    for item in items:
        path = Path(item.path).resolve().relative_to(TESTS).as_posix()
        tiers = {mark.name for mark in item.iter_markers()} & set(TIERS)
        if path in TIER_PATHS and "airflow" in TIER_PATHS[path]:
            tiers.add("process")
        cost = max((_COST[tier] for tier in tiers), default=0.05)
        weights[path] = weights.get(path, 0.0) + cost
    items.sort(key=lambda item: -weights[Path(item.path).resolve().relative_to(TESTS).as_posix()])
