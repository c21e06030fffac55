"""The "Environment URL" extra link on the ephemeral environment's report task: resolved by the
worker when the task ends (dag.test(), real metadata DB, the emulator), served by the API
server's extra-links route, kept through DAG serialization; absent, without an error logged,
when there is no web address or the task failed."""

from __future__ import annotations

import pytest

from fargate_provider.links.environment import EnvironmentUrlLink, first_web_url

DAG_ID = "fargate_ephemeral_environment"
LINK = EnvironmentUrlLink()
LINK_FAILURE = "Failed to push an xcom for task operator extra link"


def stored_link(dag_id: str, run_id: str, task_id: str = "report"):
    """What the worker stored for the UI under the link's XCom key (None: nothing stored)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id, key=LINK.xcom_key)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


def served_links(dag_id: str, run_id: str, task_id: str = "report") -> dict:
    """The API server's extra-links route (GET .../taskInstances/{task_id}/links), called in-process:
    it reads the serialized DAG from the metadata DB, as the UI's task view does."""
    from airflow.api_fastapi.core_api.routes.public.extra_links import get_extra_links
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session

    with create_session() as session:
        return get_extra_links(
            dag_id=dag_id, dag_run_id=run_id, task_id=task_id, session=session, dag_bag=DBDagBag()
        ).extra_links


def test_behind_the_load_balancer_the_report_links_to_the_environments_host(
    user_dags,
    emulator,
    capfd,
    load_balancer_variables,
):
    created = user_dags.run(DAG_ID, capfd, run_conf={"environment": "linkd", "desired_count": 1})
    assert created.state == "success", created.task_states
    url = f"http://linkd.{load_balancer_variables['environments_domain']}"
    assert created.xcom["report"]["urls"] == [url]
    assert stored_link(DAG_ID, created.run_id) == url
    assert served_links(DAG_ID, created.run_id) == {"Environment URL": url}
    # only the report task carries it (not a global link)
    assert stored_link(DAG_ID, created.run_id, "create_service") is None
    assert "Environment URL" not in served_links(DAG_ID, created.run_id, "create_service")
    assert "[error" not in created.log
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "linkd", "action": "destroy"}).state == "success"


def test_a_private_environment_links_to_its_first_private_address(user_dags, emulator, capfd):
    created = user_dags.run(DAG_ID, capfd, run_conf={"environment": "inner-link", "desired_count": 2})
    assert created.state == "success", created.task_states
    report = created.xcom["report"]
    assert report["expose"] == "none" and len(report["urls"]) == 2
    # inside the VPC only, but still the address people (on the VPN, say) open
    assert report["urls"][0].startswith("http://10.0.")
    assert served_links(DAG_ID, created.run_id) == {"Environment URL": report["urls"][0]}
    assert "[error" not in created.log
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "inner-link", "action": "destroy"}).state == "success"


def test_the_dag_keeps_the_link_through_serialization(airflow_db, user_dags):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagBag(str(user_dags.dags_folder / f"{DAG_ID}.py")).get_dag(DAG_ID)
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    report = restored.get_task("report")
    assert report.extra_links == ["Environment URL"]
    assert report.operator_extra_link_dict["Environment URL"].xcom_key == LINK.xcom_key
    assert [t.task_id for t in restored.tasks if "Environment URL" in t.extra_links] == ["report"]


REPORT_DAG = """
from airflow.sdk import DAG
from fargate_provider.environments.report import EnvironmentReportOperator

def summary(urls):
    if urls == "fail":
        raise RuntimeError("the report could not describe the service")
    return {"environment": "x", "urls": urls}

with DAG(DAG_ID, schedule=None, params={"urls": []}, render_template_as_native_obj=True):
    EnvironmentReportOperator(task_id="report", python_callable=summary, op_kwargs={"urls": "{{ params.urls }}"})
"""


@pytest.mark.parametrize(
    ("urls", "link"),
    [
        ([], ""),
        (["javascript:alert(1)", "ftp://files.example", "https://ok.example/app"], "https://ok.example/app"),
        (["http://", "data:text/html,x", "http://a b.example"], ""),
    ],
    ids=["no-url", "first-web-url", "no-web-url"],
)
def test_only_a_web_address_becomes_the_link_and_none_is_quiet(airflow, capfd, urls, link):
    dag_id = airflow.write_dag(REPORT_DAG)
    result = airflow.run(dag_id, capfd, run_conf={"urls": urls})
    assert result.state == "success", result.task_states
    assert stored_link(dag_id, result.run_id) == link
    assert served_links(dag_id, result.run_id) == {"Environment URL": link or None}
    assert "[error" not in result.log


def test_a_failed_report_has_no_link_and_the_link_logs_no_error(airflow, capfd):
    dag_id = airflow.write_dag(REPORT_DAG)
    result = airflow.run(dag_id, capfd, run_conf={"urls": "fail"})
    assert result.state == "failed" and result.task_states["report"] == "failed"
    assert "the report could not describe the service" in result.log
    assert not stored_link(dag_id, result.run_id)
    assert served_links(dag_id, result.run_id) == {"Environment URL": None}
    # the task's own failure is logged; the link adds nothing at error level
    assert LINK_FAILURE not in result.log and "operator extra link" not in result.log


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        (None, ""),
        ("http://one.example", ""),  # a string, not a list
        ([42, "HTTPS://Upper.example"], "HTTPS://Upper.example"),
        (["http://[::1"], ""),  # unbalanced IPv6 bracket: urlsplit raises
        (["http://x.example\n"], ""),
    ],
)
def test_first_web_url(urls, expected):
    assert first_web_url(urls) == expected
