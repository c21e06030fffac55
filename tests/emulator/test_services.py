"""Services in the emulator: tasks follow desiredCount, deployments roll out, drain and delete."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import FAST, network, register, wait


def create(ecs, emulator, name="web", desired=2, **extra):
    kwargs = {
        "cluster": "c",
        "serviceName": name,
        "taskDefinition": "web",
        "desiredCount": desired,
        "launchType": "FARGATE",
        "networkConfiguration": network(emulator),
    }
    kwargs.update(extra)
    return ecs.create_service(**kwargs)["service"]


def describe(ecs, name="web"):
    return ecs.describe_services(cluster="c", services=[name])["services"][0]


def rolled_out(ecs, state="COMPLETED", name="web"):
    """Wait until the PRIMARY deployment's rolloutState is ``state``; return the service."""

    def check():
        service = describe(ecs, name)
        return service if service["deployments"][0]["rolloutState"] == state else None

    return wait(f"rolloutState {state}", check)


def messages(service):
    return [event["message"] for event in service["events"]]


def test_service_starts_tasks_and_becomes_stable(emulator, ecs):
    register(ecs, family="web")
    created = create(
        ecs, emulator, deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    )
    assert (created["status"], created["runningCount"], created["desiredCount"]) == ("ACTIVE", 0, 2)
    assert created["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert created["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}

    ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig=FAST)
    service = rolled_out(ecs)
    assert (service["runningCount"], service["pendingCount"]) == (2, 0)
    assert len(service["deployments"]) == 1
    events = messages(service)
    assert events[0] == "(service web) has reached a steady state."
    assert any(e.startswith("(service web) has started 2 tasks: (task ") for e in events)
    assert any(e.endswith("deployment completed.") for e in events)
    tasks = ecs.list_tasks(cluster="c", serviceName="web")["taskArns"]
    described = ecs.describe_tasks(cluster="c", tasks=tasks)["tasks"]
    assert {t["lastStatus"] for t in described} == {"RUNNING"}
    assert {t["group"] for t in described} == {"service:web"}
    assert {t["startedBy"] for t in described} == {service["deployments"][0]["id"]}


def test_update_to_a_new_revision_replaces_the_tasks_and_drains_the_old_deployment(emulator, ecs):
    first = register(ecs, family="web", image="nginx:1.27")
    create(ecs, emulator)
    ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig=FAST)
    old_tasks = set(ecs.list_tasks(cluster="c", serviceName="web")["taskArns"])

    second = register(ecs, family="web", image="nginx:1.28")
    updated = ecs.update_service(cluster="c", service="web", taskDefinition="web")["service"]
    assert [(d["status"], d["taskDefinition"]) for d in updated["deployments"]] == [
        ("PRIMARY", second),
        ("ACTIVE", first),
    ]
    ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig=FAST)
    service = wait(
        "the old deployment to drain", lambda: (lambda s: s if len(s["deployments"]) == 1 else None)(rolled_out(ecs))
    )
    assert service["taskDefinition"] == second and len(service["deployments"]) == 1
    new_tasks = set(ecs.list_tasks(cluster="c", serviceName="web")["taskArns"])
    assert len(new_tasks) == 2 and not new_tasks & old_tasks
    old = ecs.describe_tasks(cluster="c", tasks=list(old_tasks))["tasks"]
    assert {(t["lastStatus"], t["stopCode"]) for t in old} == {("STOPPED", "ServiceSchedulerInitiated")}
    assert any(e.startswith("(service web) has stopped 2 running tasks") for e in messages(service))


def test_force_new_deployment_and_scaling(emulator, ecs):
    register(ecs, family="web")
    create(ecs, emulator, desired=1)
    ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig=FAST)
    deployment = describe(ecs)["deployments"][0]["id"]
    forced = ecs.update_service(cluster="c", service="web", forceNewDeployment=True)["service"]
    assert forced["deployments"][0]["id"] != deployment and len(forced["deployments"]) == 2

    ecs.update_service(cluster="c", service="web", desiredCount=3)
    ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig=FAST)
    assert describe(ecs)["runningCount"] == 3
    ecs.update_service(cluster="c", service="web", desiredCount=0)
    ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig=FAST)
    wait("all tasks stopped", lambda: ecs.list_tasks(cluster="c", serviceName="web")["taskArns"] == [])
    assert describe(ecs)["runningCount"] == 0


def test_delete_drains_to_inactive(emulator, ecs):
    register(ecs, family="web")
    create(ecs, emulator)
    ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig=FAST)
    with pytest.raises(ClientError, match="cannot be stopped while it is scaled above 0"):
        ecs.delete_service(cluster="c", service="web")
    deleted = ecs.delete_service(cluster="c", service="web", force=True)["service"]
    assert deleted["status"] == "DRAINING"
    ecs.get_waiter("services_inactive").wait(cluster="c", services=["web"], WaiterConfig=FAST)
    assert wait("no tasks", lambda: ecs.list_tasks(cluster="c", serviceName="web")["taskArns"] == [])


def test_create_service_client_token(emulator, ecs):
    register(ecs, family="web")
    first = create(ecs, emulator, clientToken="airflow-dag-run-task")
    again = create(ecs, emulator, clientToken="airflow-dag-run-task")
    assert again["serviceArn"] == first["serviceArn"]
    assert again["deployments"][0]["id"] == first["deployments"][0]["id"]  # the same service, not a replacement
    for attempt in ({"clientToken": "airflow-dag-run-task", "desired": 5}, {"clientToken": "other"}, {}):
        desired = attempt.pop("desired", 2)
        with pytest.raises(ClientError) as err:
            create(ecs, emulator, desired=desired, **attempt)
        assert err.value.response["Error"]["Code"] == "InvalidParameterException"
        assert "Creation of service was not idempotent" in err.value.response["Error"]["Message"]


def test_cluster_with_services_or_tasks_cannot_be_deleted(emulator, ecs):
    register(ecs, family="web")
    create(ecs, emulator, desired=1)
    with pytest.raises(ClientError) as err:
        ecs.delete_cluster(cluster="c")
    assert err.value.response["Error"]["Code"] == "ClusterContainsServicesException"


def test_capacity_provider_strategy_and_execute_command(emulator, ecs):
    ecs.put_cluster_capacity_providers(
        cluster="c", capacityProviders=["FARGATE", "FARGATE_SPOT"], defaultCapacityProviderStrategy=[]
    )
    register(ecs, family="web")
    created = ecs.create_service(
        cluster="c",
        serviceName="web",
        taskDefinition="web",
        desiredCount=1,
        networkConfiguration=network(emulator),
        capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
        enableExecuteCommand=True,
    )["service"]
    assert created["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    assert created["enableExecuteCommand"] is True
    ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig=FAST)
    task = ecs.describe_tasks(cluster="c", tasks=ecs.list_tasks(cluster="c", serviceName="web")["taskArns"])["tasks"][0]
    assert task["capacityProviderName"] == "FARGATE_SPOT"
