"""The fargate_batch_fanout DAG through Airflow (dag.test(), real metadata DB) against the emulator:
N mapped shards of one task definition, each with its own command and environment, on Fargate Spot
with on-demand fallback, summed up by the summary task; a failed shard is a failed run."""

from __future__ import annotations

import json

import pytest

from fargate_provider.exceptions import FargateInputError
from fargate_provider.utils.fanout import shard_overrides, summarize_shards
from tests.emulator.helpers import client


def _summary_xcom(result):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(run_id=result.run_id, task_id="summary", key="return_value").one()
        return XComModel.deserialize_value(row)


def _clean_up(ecs, family: str, cluster: str) -> None:
    for arn in ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]:
        ecs.deregister_task_definition(taskDefinition=arn)
    ecs.delete_cluster(cluster=cluster)
    assert ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"] == []
    assert cluster not in str(ecs.list_clusters()["clusterArns"])


@pytest.fixture
def no_retries(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_BATCH_FANOUT", json.dumps({"retries": 0, "poll_interval": 0.2}))


def test_shards_run_once_each_on_spot_and_the_summary_adds_them_up(user_dags, emulator, capfd, no_retries):
    emulator.add_behaviour(family="fanout", run_seconds=40)
    emulator.set_spot(interruptions=1, interrupt_after=20)  # the first Spot task launched is taken back
    conf = {"shards": 3, "family": "fanout", "cluster": "fanout", "command": ["work", "--part", "{shard}/{shards}"]}
    result = user_dags.run("fargate_batch_fanout", capfd, run_conf=conf)
    ecs = client(emulator)
    try:
        assert result.state == "success", result.log[-3000:]
        summary = _summary_xcom(result)
        assert (summary["shards"], summary["succeeded"], summary["failed"]) == (3, 3, 0)
        assert summary["tasks"] == 4 and summary["spot_tasks"] == 4  # one shard ran twice (interrupted once)
        assert sorted(len(attempts) for attempts in summary["capacity"].values()) == [1, 1, 2]
        assert summary["usd"] < summary["on_demand_usd"] and summary["saving_usd"] > 0
        assert "Shards: 3: 3 succeeded, 0 skipped, 0 failed" in result.log
        assert "was interrupted (SpotInterruption: Your Spot Task was interrupted.)" in result.log

        arns = ecs.list_tasks(cluster="fanout", desiredStatus="STOPPED")["taskArns"]
        tasks = ecs.describe_tasks(cluster="fanout", tasks=arns)["tasks"]
        finished = [t for t in tasks if t["stopCode"] == "EssentialContainerExited"]
        seen = set()
        for task in finished:
            [override] = task["overrides"]["containerOverrides"]
            env = {e["name"]: e["value"] for e in override["environment"]}
            assert override["command"] == ["work", "--part", f"{env['SHARD_INDEX']}/3"] and env["SHARD_COUNT"] == "3"
            seen.add(env["SHARD_INDEX"])
        assert seen == {"0", "1", "2"} and len(finished) == 3  # every shard once to the end
    finally:
        _clean_up(ecs, "fanout", "fanout")


def test_a_failed_shard_fails_the_run_and_the_summary_says_which(user_dags, emulator, capfd, no_retries):
    emulator.add_behaviour(family="fanout-bad", exit_code=3)
    conf = {"shards": 2, "family": "fanout-bad", "cluster": "fanout-bad", "capacity": "on_demand"}
    result = user_dags.run("fargate_batch_fanout", capfd, run_conf=conf)
    ecs = client(emulator)
    try:
        assert result.state == "failed"
        assert result.task_states["summary"] == "failed"
        assert "Shards: 2: 0 succeeded, 0 skipped, 2 failed" in result.log
        assert "2 of 2 shard(s) failed: [0, 1]" in result.log
        assert "ECS tasks: 2 (0 on Fargate Spot, 2 on Fargate)" in result.log
    finally:
        _clean_up(ecs, "fanout-bad", "fanout-bad")


def test_shard_overrides_and_summary_without_airflow():
    overrides = shard_overrides("job", ["run", "{shard}-of-{shards}"], 2)
    assert [o["containerOverrides"][0]["command"] for o in overrides] == [["run", "0-of-2"], ["run", "1-of-2"]]
    with pytest.raises(FargateInputError, match="shards: must be a whole number from 1 to 1000, got 0"):
        shard_overrides("job", ["run"], 0)
    with pytest.raises(FargateInputError, match="command: must be a list of strings"):
        shard_overrides("job", "run", 1)
    summary = summarize_shards(
        {0: "success", 1: "skipped", 2: "failed"},
        {
            0: {"usd": 0.1, "on_demand_usd": 0.3, "tasks": 2, "spot_tasks": 2, "capacity": ["FARGATE_SPOT"] * 2},
            1: {"usd": 0.2, "tasks": 1, "capacity": ["FARGATE"]},
            2: None,
        },
    )
    assert summary.as_dict() | {"usd": 0, "on_demand_usd": 0, "saving_usd": 0} == {
        "shards": 3,
        "succeeded": 1,
        "skipped": 1,
        "failed": 1,
        "failed_shards": [2],
        "capacity": {"0": ["FARGATE_SPOT", "FARGATE_SPOT"], "1": ["FARGATE"], "2": []},
        "tasks": 3,
        "spot_tasks": 2,
        "usd": 0,
        "on_demand_usd": 0,
        "saving_usd": 0,
    }
    assert summary.usd == pytest.approx(0.3) and summary.on_demand_usd == pytest.approx(0.5)
