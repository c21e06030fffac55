"""Sleep and wake (issue 27), and who and what an environment is, through Airflow (dag.test(), real
metadata DB) against the emulator: asleep, an environment runs no task and its load balancer rule
answers "asleep" itself; awake, it has its tasks back, healthy, and the rule forwards again; a
sleeping environment is destroyed without leaving its rule behind (the emulator fixture's leak
check covers ELBv2)."""

from __future__ import annotations

import pendulum
import pytest

from tests.emulator.helpers import client

DAG_ID = "fargate_ephemeral_environment"
SOURCE = "https://github.com/org/app/pull/42 3f2c1ab"


def _cluster_tags(ecs, cluster: str) -> dict[str, str]:
    [found] = ecs.describe_clusters(clusters=[cluster], include=["TAGS"])["clusters"]
    return {t["key"]: t["value"] for t in found.get("tags", [])}


def _rule_actions(emulator, listener_arn: str) -> list[list[dict]]:
    rules = client(emulator, "elbv2").describe_rules(ListenerArn=listener_arn)["Rules"]
    return [r["Actions"] for r in rules if not r["IsDefault"]]


def _add_dag_run(dag_id: str, run_id: str, state: str) -> None:
    """A run of ``dag_id`` in ``state`` in the metadata DB (made, or moved to that state)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id).one_or_none()
        if run is None:
            run = DagRun(dag_id=dag_id, run_id=run_id, run_type="manual", state=state, conf={})
            session.add(run)
        run.state = state


def _listed(name: str) -> dict:
    from fargate_provider.environments.discovery import describe_environments
    from fargate_provider.hooks.fargate import FargateHook

    return next(
        e
        for e in describe_environments(FargateHook(aws_conn_id="aws_default"), pendulum.now("UTC"))
        if e["environment"] == name
    )


def test_sleep_stops_every_task_and_the_load_balancer_answers_asleep_wake_brings_them_back(
    user_dags, emulator, capfd, load_balancer_variables
):
    ecs, elbv2 = client(emulator), client(emulator, "elbv2")
    listener = load_balancer_variables["listener_arn"]
    created = user_dags.run(
        DAG_ID, capfd, run_conf={"environment": "pr-42", "desired_count": 2, "owner": "ana", "source": SOURCE}
    )
    assert created.state == "success", created.task_states
    tags = _cluster_tags(ecs, "env-pr-42")
    assert (tags["fargate-owner"], tags["fargate-source"]) == ("ana", SOURCE)
    assert tags["fargate-image"] == "public.ecr.aws/nginx/nginx:1.27"
    assert tags["fargate-last-run"] == created.run_id
    assert created.xcom["report"]["owner"] == "ana" and created.xcom["report"]["source"] == SOURCE
    [[forward]] = _rule_actions(emulator, listener)
    assert forward["Type"] == "forward"

    slept = user_dags.run(DAG_ID, capfd, run_conf={"environment": "pr-42", "action": "sleep"})
    assert slept.state == "success", slept.task_states
    assert slept.task_states["create_cluster"] == "skipped" and slept.task_states["destroy_service"] == "skipped"
    [service] = ecs.describe_services(cluster="env-pr-42", services=["pr-42"])["services"]
    assert (service["desiredCount"], service["runningCount"]) == (0, 0)
    assert ecs.list_tasks(cluster="env-pr-42", desiredStatus="RUNNING")["taskArns"] == []  # nothing to pay
    [[asleep]] = _rule_actions(emulator, listener)
    assert asleep["Type"] == "fixed-response"
    assert asleep["FixedResponseConfig"]["StatusCode"] == "200"
    assert "pr-42 is asleep" in asleep["FixedResponseConfig"]["MessageBody"]
    assert "fargate-env wake pr-42" in asleep["FixedResponseConfig"]["MessageBody"]
    host = f"pr-42.{load_balancer_variables['environments_domain']}"
    asked = emulator.load_balancer_request(listener_arn=listener, host=host, source_ip="203.0.113.9")
    assert asked["status"] == 200 and asked["body"].startswith("Environment pr-42 is asleep")  # not a 503
    listed = _listed("pr-42")
    assert listed["asleep_since"] and listed["awake_count"] == 2 and listed["owner"] == "ana"
    assert (listed["targets_healthy"], listed["targets_total"]) == (0, 0)  # asleep: no target
    assert listed["urls"] == [f"http://pr-42.{load_balancer_variables['environments_domain']}"]  # the URL stays

    woken = user_dags.run(DAG_ID, capfd, run_conf={"environment": "pr-42", "action": "wake"})
    assert woken.state == "success", woken.task_states
    assert "[error" not in woken.log
    [service] = ecs.describe_services(cluster="env-pr-42", services=["pr-42"])["services"]
    assert (service["desiredCount"], service["runningCount"]) == (2, 2)
    assert (_listed("pr-42")["targets_healthy"], _listed("pr-42")["targets_total"]) == (2, 2)  # the page's health
    [balancer] = service["loadBalancers"]
    health = elbv2.describe_target_health(TargetGroupArn=balancer["targetGroupArn"])["TargetHealthDescriptions"]
    assert [t["TargetHealth"]["State"] for t in health] == ["healthy", "healthy"]
    [[forward]] = _rule_actions(emulator, listener)
    assert (forward["Type"], forward["TargetGroupArn"]) == ("forward", balancer["targetGroupArn"])
    asked = emulator.load_balancer_request(listener_arn=listener, host=host, source_ip="203.0.113.9")
    assert asked["forwarded_to"] in {f"{t['Target']['Id']}:80" for t in health} and not asked["fail_open"]
    tags = _cluster_tags(ecs, "env-pr-42")
    assert "fargate-asleep-since" not in tags and "fargate-awake-count" not in tags
    assert _listed("pr-42")["asleep_since"] is None

    # Asleep again, then destroyed as it sleeps: its "asleep" rule goes too.
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "pr-42", "action": "sleep"}).state == "success"
    destroyed = user_dags.run(DAG_ID, capfd, run_conf={"environment": "pr-42", "action": "destroy"})
    assert destroyed.state == "success", destroyed.task_states
    assert _rule_actions(emulator, listener) == []


def test_a_create_wakes_a_sleeping_environment(user_dags, emulator, capfd):
    ecs = client(emulator)
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "dozy"}).state == "success"
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "dozy", "action": "sleep"}).state == "success"
    assert "fargate-asleep-since" in _cluster_tags(ecs, "env-dozy")
    again = user_dags.run(DAG_ID, capfd, run_conf={"environment": "dozy", "desired_count": 1})
    assert again.state == "success", again.task_states
    assert "fargate-asleep-since" not in _cluster_tags(ecs, "env-dozy")
    assert again.xcom["report"]["running"] == "1/1"
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "dozy", "action": "destroy"}).state == "success"


def test_sleeping_an_environment_that_is_not_there_fails_at_once(user_dags, emulator, capfd):
    slept = user_dags.run(DAG_ID, capfd, run_conf={"environment": "nobody", "action": "sleep"})
    assert slept.state == "failed"
    assert slept.task_states["answer_asleep"] == "failed" and slept.extra["tries"]["answer_asleep"] == 1
    assert "no ACTIVE cluster env-nobody" in slept.log


@pytest.mark.parametrize(
    ("field", "bad"),
    [("source", "https://github.com/org/app/pull/42#top"), ("owner", "a&b"), ("source", "x" * 257)],
)
def test_owner_and_source_must_be_tag_values_before_any_aws_call(user_dags, no_aws, capfd, field, bad):
    from airflow.sdk.exceptions import ParamValidationError

    from tests.helpers.aws import record_aws_calls

    with record_aws_calls() as calls, pytest.raises(ParamValidationError, match=f"param {field}:"):
        user_dags.run(DAG_ID, capfd, run_conf={"environment": "ok-name", field: bad})
    assert calls.calls == []


def test_the_janitor_removes_an_expired_sleeping_environments_asleep_rule_too(
    user_dags, emulator, capfd, load_balancer_variables
):
    ecs = client(emulator)
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "slept"}).state == "success"
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "slept", "action": "sleep"}).state == "success"
    [[asleep]] = _rule_actions(emulator, load_balancer_variables["listener_arn"])
    assert asleep["Type"] == "fixed-response"
    [cluster] = ecs.describe_clusters(clusters=["env-slept"])["clusters"]
    ecs.tag_resource(
        resourceArn=cluster["clusterArn"], tags=[{"key": "fargate-expires-at", "value": "2026-01-01T00:00:00Z"}]
    )
    janitor = user_dags.run("fargate_environment_janitor", capfd)
    assert janitor.state == "success", janitor.task_states
    assert _rule_actions(emulator, load_balancer_variables["listener_arn"]) == []
    # the emulator fixture fails the test if the target group, service or cluster is left


def test_outside_the_awake_hours_the_janitor_puts_environments_to_sleep_and_says_what_it_saves(
    user_dags, emulator, capfd, monkeypatch
):
    import datetime as dt

    ecs = client(emulator)
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "night", "desired_count": 2}).state == "success"
    hour = dt.datetime.now(dt.UTC).hour
    window = "00:00-01:00" if hour >= 2 else "12:00-13:00"  # a window that does not hold now
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_ENVIRONMENTS_AWAKE_HOURS", f"daily {window} UTC")
    # A run of the environment DAG that is changing "night" right now: the janitor leaves it for the next round.
    busy = "create-night-busy"
    _add_dag_run(DAG_ID, busy, "running")
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_ENVIRONMENT_TURNS", f'{{"night": "{busy}"}}')
    left = user_dags.run("fargate_environment_janitor", capfd)
    assert left.xcom["sleep_outside_awake_hours"]["slept"] == []
    assert left.xcom["sleep_outside_awake_hours"]["left_awake"] == [f"night: run {busy} is changing it (next round)"]
    _add_dag_run(DAG_ID, busy, "success")  # that run has ended: its turn holds nothing
    janitor = user_dags.run("fargate_environment_janitor", capfd)
    assert janitor.state == "success", janitor.task_states
    report = janitor.xcom["sleep_outside_awake_hours"]
    assert report["slept"] == ["night"] and report["task_hours_saved"] > 0
    assert f"Outside the awake hours (daily {window} UTC): put to sleep until" in janitor.log
    tags = _cluster_tags(ecs, "env-night")
    assert tags["fargate-awake-count"] == "2" and tags["fargate-asleep-since"]
    assert ecs.describe_services(cluster="env-night", services=["night"])["services"][0]["desiredCount"] == 0
    # Inside the hours the janitor leaves them as they are (nobody is woken behind their back).
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_ENVIRONMENTS_AWAKE_HOURS", "daily 00:00-23:59 UTC")
    again = user_dags.run("fargate_environment_janitor", capfd)
    assert again.xcom["sleep_outside_awake_hours"]["slept"] == [] and "fargate-asleep-since" in _cluster_tags(
        ecs, "env-night"
    )
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "night", "action": "destroy"}).state == "success"
