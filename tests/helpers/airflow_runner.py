"""Run DAGs through Airflow for tests: a real metadata DB, DAG files in the dags folder, dag.test()."""

from __future__ import annotations

import os
import shutil
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.tiers import refuse_unless_selected


@dataclass
class DagRunResult:
    state: str
    task_states: dict[str, str]
    xcom: dict[str, Any]
    run_id: str
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class AirflowRunner:
    def __init__(self, dags_folder: Path):
        self.dags_folder = dags_folder

    def write_dag(self, body: str, dag_id: str | None = None) -> str:
        """Write a DAG file; ``body`` builds the DAG under the name DAG_ID. Returns the dag_id."""
        dag_id = dag_id or f"test_{uuid.uuid4().hex[:10]}"
        source = f"DAG_ID = {dag_id!r}\n" + textwrap.dedent(body)
        (self.dags_folder / f"{dag_id}.py").write_text(source)
        return dag_id

    def write_operator_dag(self, operator: str, arguments: str, params: dict | None = None) -> str:
        """A DAG of one task, ``operator`` ("module.Class") called with ``arguments`` (source text)."""
        module, _, name = operator.rpartition(".")
        return self.write_dag(
            f"from airflow.sdk import DAG\nfrom {module} import {name}\n"
            f"with DAG(DAG_ID, schedule=None, params={params or {}!r}):\n"
            f"    {name}(task_id='task', {arguments})\n"
        )

    def run(self, dag_id: str, capfd: pytest.CaptureFixture | None = None, **test_kwargs: Any) -> DagRunResult:
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(str(self.dags_folder / f"{dag_id}.py"))
        assert not bag.import_errors, bag.import_errors
        dag = bag.get_dag(dag_id)
        dag_run = dag.test(**test_kwargs)
        log = ""
        if capfd is not None:
            out, err = capfd.readouterr()
            log = out + err + _written_to_the_global_capture(capfd)
        return self.result(dag_run, log)

    @staticmethod
    def result(dag_run, log: str = "") -> DagRunResult:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            tis = dag_run.get_task_instances(session=session)

            def name(ti) -> str:  # a mapped task instance: "task_id[map_index]"
                return ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"

            states = {name(ti): str(getattr(ti.state, "value", ti.state)) for ti in tis}
            xcom = {}
            for ti in tis:
                row = (
                    session.query(XComModel)
                    .filter_by(dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index)
                    .filter_by(key="return_value")
                    .one_or_none()
                )
                if row is not None:
                    xcom[name(ti)] = XComModel.deserialize_value(row)
        return DagRunResult(
            state=str(getattr(dag_run.state, "value", dag_run.state)),
            task_states=states,
            xcom=xcom,
            run_id=dag_run.run_id,
            log=log,
            extra={"tries": {name(ti): ti.try_number for ti in tis}},
        )


@pytest.fixture(scope="session")
def airflow_db(request):
    """A fresh metadata DB in the test AIRFLOW_HOME (migrated once per session)."""
    refuse_unless_selected(request, "airflow")
    from airflow.utils import db

    db.resetdb(skip_init=False)
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture
def airflow(airflow_db) -> AirflowRunner:
    return AirflowRunner(Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]))


REPO_DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture
def user_dags(airflow) -> AirflowRunner:
    """This repo's dags/ copied into the test's dags folder (removed afterwards)."""
    for path in REPO_DAGS.glob("*.py"):
        shutil.copy(path, airflow.dags_folder)
    shutil.copytree(REPO_DAGS / "task_definitions", airflow.dags_folder / "task_definitions", dirs_exist_ok=True)
    yield airflow
    for path in REPO_DAGS.glob("*.py"):
        (airflow.dags_folder / path.name).unlink(missing_ok=True)


def _written_to_the_global_capture(capfd: pytest.CaptureFixture) -> str:
    """What went to pytest's session-wide capture while ``capfd`` held fd 1 and 2. Airflow configures
    structlog with ``cache_logger_on_first_use``: a logger first used outside a ``capfd`` test keeps
    writing to the stream ``sys.stdout`` was then (the session capture's file, not fd 1), so its lines
    never reach ``capfd`` (CI saw a run's task lines missing from its log, a different test each time)."""
    capman = capfd.request.config.pluginmanager.getplugin("capturemanager")
    if capman is None or not capman.is_globally_capturing():
        return ""
    written = capman.read_global_capture()
    return written.out + written.err
