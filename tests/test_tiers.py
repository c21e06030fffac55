"""The tiers (tests/helpers/tiers.py): what marks a test, and when a selection shuts a tier out."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers.tiers import TESTS, TIERS, excluded, tiers_of

FAST = "not emulator and not airflow and not browser and not topology"


def config(markexpr: str | None):
    return SimpleNamespace(getoption=lambda name, default=None: markexpr if name == "markexpr" else default)


def item(path: str, *fixtures: str):
    return SimpleNamespace(path=TESTS / path, fixturenames=["request", *fixtures])


@pytest.mark.parametrize(
    ("markexpr", "shut_out"),
    [
        (None, set()),
        ("", set()),
        (FAST, set(TIERS)),
        ("not topology", {"topology"}),
        ("not airflow", {"airflow"}),
        # Tests marked both emulator and airflow are selected: the DB stays usable.
        ("emulator", set()),
        ("emulator and not airflow", {"airflow"}),
        ("airflow and not emulator", {"emulator"}),
        ("browser or topology", set()),
        ("not (emulator or airflow)", {"emulator", "airflow"}),
    ],
)
def test_a_tier_is_shut_out_only_when_no_test_of_it_can_be_selected(markexpr, shut_out):
    assert {tier for tier in TIERS if excluded(config(markexpr), tier)} == shut_out


@pytest.mark.parametrize(
    ("path", "fixtures", "tiers"),
    [
        ("test_pricing.py", ("cpu", "memory"), set()),
        ("test_run_task_operator.py", ("no_aws", "monkeypatch"), set()),
        ("test_run_task_operator.py", ("ecs", "emulator", "local_ecs"), {"emulator"}),
        ("test_task_definition_operators.py", ("aws_endpoint",), {"emulator"}),
        ("test_dags.py", ("user_dags", "airflow", "airflow_db", "emulator"), {"airflow", "emulator"}),
        ("test_provider_registration.py", ("airflow_db",), {"airflow"}),
        ("emulator/test_moto_contract.py", (), {"emulator"}),
        ("contract/test_listings.py", ("aws", "cluster"), {"emulator"}),
        ("test_demo.py", (), {"emulator", "airflow"}),
        ("test_airflow_standalone.py", ("stack",), {"emulator", "airflow"}),
        ("test_airflow_standalone.py", ("stack", "chromium"), {"emulator", "airflow", "browser"}),
        # The topology's own emulator fixture is a client of the stack, not the in-process emulator.
        ("topology/test_compose_topology.py", ("stack", "emulator"), {"topology"}),
        ("topology/test_compose_stack.py", ("tmp_path",), set()),
    ],
)
def test_a_test_is_marked_by_its_fixtures_and_its_path(path, fixtures, tiers):
    assert tiers_of(item(path, *fixtures)) == tiers


def test_every_marked_tier_is_declared_in_pyproject():
    import tomllib

    pyproject = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())
    declared = {marker.split(":")[0] for marker in pyproject["tool"]["pytest"]["ini_options"]["markers"]}
    assert set(TIERS) <= declared


def test_when_the_selection_shuts_the_tiers_out_the_db_and_the_emulator_are_out_of_reach(request):
    """make test-fast: Airflow's DB cannot be opened, AWS is a closed port, and LocalEcs does not start."""
    if not (excluded(request.config, "airflow") and excluded(request.config, "emulator")):
        pytest.skip("the selection runs emulator or airflow tests: the guards are off")
    database = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    assert Path(database).parent.is_file()  # a file inside a regular file: sqlite cannot open it
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    from fargate_local.server import LocalEcs

    with pytest.raises(AssertionError, match="the -m selection excludes tests marked emulator"):
        LocalEcs(port=0).start()
