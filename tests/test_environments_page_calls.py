"""The environments page at scale (issue 27): one DescribeServices per environment and two calls for all
the clusters, the cost read again in full only when a service changed; in between the figure grows by
its running tasks' rate. Against the emulator (its call counter), environments made directly."""

from __future__ import annotations

import datetime as dt

from fargate_provider.utils.pricing import fargate_cost
from tests.emulator.helpers import client
from tests.helpers.polling import wait_for

NAMES = ("calls-a", "calls-b", "calls-c")


def _make(emulator, ecs) -> None:
    from fargate_provider.environments.naming import environment_tags
    from fargate_provider.utils.tags import MANAGED_BY_KEY, MANAGED_BY_VALUE, to_ecs_tags

    network = {
        "awsvpcConfiguration": {
            "subnets": emulator.network["private_subnets"],
            "securityGroups": [emulator.network["security_group"]],
        }
    }
    for name in NAMES:
        tags = to_ecs_tags({MANAGED_BY_KEY: MANAGED_BY_VALUE, **environment_tags(name, 8, dt.datetime.now(dt.UTC))})
        ecs.create_cluster(clusterName=f"env-{name}", tags=tags)
        ecs.register_task_definition(
            family=f"env-{name}",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "app", "image": "nginx:1.27", "essential": True}],
        )
        ecs.create_service(
            cluster=f"env-{name}",
            serviceName=name,
            taskDefinition=f"env-{name}:1",
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=network,
            tags=tags,
        )


def _remove(ecs) -> None:
    for name in NAMES:
        ecs.delete_service(cluster=f"env-{name}", service=name, force=True)
    for name in NAMES:
        wait_for(
            f"{name} to stop",
            lambda name=name: (
                not ecs.list_tasks(cluster=f"env-{name}")["taskArns"]
                and ecs.describe_services(cluster=f"env-{name}", services=[name])["services"][0]["status"] == "INACTIVE"
            ),
            timeout=120,
        )
        ecs.delete_cluster(cluster=f"env-{name}")
        for arn in ecs.list_task_definitions(familyPrefix=f"env-{name}")["taskDefinitionArns"]:
            ecs.deregister_task_definition(taskDefinition=arn)
        ecs.delete_task_definitions(taskDefinitions=[f"env-{name}:1"])


def _running_and_not_yet_seen(hook) -> None:
    """Wait for every environment to run one task, then forget what the page read of them (its
    service and cost caches), as an API server that has just started."""
    from fargate_provider.environments import cost, discovery
    from fargate_provider.environments.discovery import describe_environments

    wait_for(
        "every environment running",
        lambda: [e["running_count"] for e in describe_environments(hook, dt.datetime.now(dt.UTC))] == [1, 1, 1],
        timeout=120,
    )
    cost._CACHE.clear()
    discovery._SERVICES.clear()


def test_a_listing_makes_at_most_two_calls_an_environment_and_the_cost_still_grows(emulator, monkeypatch):
    from fargate_provider.environments import discovery
    from fargate_provider.environments.discovery import describe_environments
    from fargate_provider.hooks.fargate import FargateHook

    ecs = client(emulator)
    hook = FargateHook(aws_conn_id="aws_default")
    _make(emulator, ecs)
    try:
        _running_and_not_yet_seen(hook)
        emulator.calls.clear()
        now = dt.datetime.now(dt.UTC)
        first = {e["environment"]: e for e in describe_environments(hook, now)}
        assert sum(emulator.calls.values()) > 2 * len(NAMES)  # the first sight reads each service's history

        # Nothing changed: the clusters are read (two calls for all of them), the services and costs are not.
        emulator.calls.clear()
        later = now + dt.timedelta(hours=1)
        second = {e["environment"]: e for e in describe_environments(hook, later)}
        calls = dict(emulator.calls)
        assert calls == {"ListClusters": 1, "DescribeClusters": 1}, calls
        hourly = fargate_cost("256", "512", 3600).usd  # one running task of 0.25 vCPU / 0.5 GB for the hour
        for name in NAMES:
            grown = second[name]["estimated_cost_usd"] - first[name]["estimated_cost_usd"]
            assert abs(grown - hourly) < 1e-6, (name, grown, hourly)
            assert "1 running task(s)" in second[name]["cost_note"]
            assert second[name]["age_seconds"] - first[name]["age_seconds"] == 3600  # the clock still moves

        # Past SERVICE_MAX_AGE each service is read again (a change made outside the DAGs shows).
        monkeypatch.setattr(discovery, "SERVICE_MAX_AGE", 0.0)
        emulator.calls.clear()
        describe_environments(hook, dt.datetime.now(dt.UTC))
        assert emulator.calls["DescribeServices"] == len(NAMES) and "ListTasks" not in emulator.calls
        monkeypatch.setattr(discovery, "SERVICE_MAX_AGE", 60.0)

        # A changed service (another task count): its cluster looks different, so it is read again, in full.
        ecs.update_service(cluster="env-calls-a", service="calls-a", desiredCount=2)
        emulator.calls.clear()
        wait_for(
            "calls-a to run 2 tasks",
            lambda: (
                next(e for e in describe_environments(hook, dt.datetime.now(dt.UTC)) if e["environment"] == "calls-a")[
                    "running_count"
                ]
                == 2
            ),
            timeout=120,
        )
        assert emulator.calls["ListTasks"] >= 2  # calls-a's cost read again (listed tasks, running and stopped)
    finally:
        _remove(ecs)


def test_a_listing_does_not_wait_for_costs_it_has_not_read_and_a_later_one_finds_them(emulator, monkeypatch):
    """The page's listing waits at most ``wait`` for costs not yet known (the first after the API
    server starts reads every service's history); those show as pending, are read once however many
    listings ask meanwhile, and a later listing has them: the figures a full wait gives."""
    import threading

    from fargate_provider.environments import cost
    from fargate_provider.environments.discovery import describe_environments
    from fargate_provider.hooks.fargate import FargateHook

    ecs = client(emulator)
    hook = FargateHook(aws_conn_id="aws_default")
    _make(emulator, ecs)
    history_may_go_on = threading.Event()
    estimates: list[str] = []
    estimate = cost.estimate_service_cost

    def held_back(hook, cluster, service, **kwargs):  # as a slow history read
        estimates.append(service["serviceName"])
        assert history_may_go_on.wait(timeout=60)
        return estimate(hook, cluster, service, **kwargs)

    try:
        _running_and_not_yet_seen(hook)
        monkeypatch.setattr(cost, "estimate_service_cost", held_back)
        now = dt.datetime.now(dt.UTC)
        first = describe_environments(hook, now, wait=0.2)
        again = describe_environments(hook, now, wait=0.2)
        for listing in (first, again):
            assert [(e["cost_pending"], e["estimated_cost_usd"]) for e in listing] == [(True, None)] * len(NAMES)
            assert all(e["cost_note"].startswith("being estimated") for e in listing)
            assert [e["running_count"] for e in listing] == [1, 1, 1]  # the rest of the entry is there
        assert sorted(estimates) == sorted(NAMES)  # one read per service, not one per listing
        history_may_go_on.set()
        wait_for(
            "a listing with every cost",
            lambda: not any(e["cost_pending"] for e in describe_environments(hook, now, wait=0.2)),
            timeout=60,
        )
        found = {e["environment"]: e["estimated_cost_usd"] for e in describe_environments(hook, now, wait=0)}
        cost._CACHE.clear()
        waited = {e["environment"]: e["estimated_cost_usd"] for e in describe_environments(hook, now)}
        assert found == waited and all(usd and usd > 0 for usd in waited.values()), (found, waited)
    finally:
        history_may_go_on.set()
        _remove(ecs)


def test_a_listing_does_not_wait_for_services_it_has_not_read_and_reads_each_once(emulator, monkeypatch):
    """The first listing after the API server starts reads every environment's service: at a hundred,
    longer than a page may take. Within ``wait`` it answers with what the clusters say (their running
    tasks, tags) and the rest pending; each service is read once however many listings ask, and a
    later listing has what a full wait gives."""
    import threading

    from fargate_provider.environments import discovery
    from fargate_provider.environments.discovery import describe_environments
    from fargate_provider.hooks.fargate import FargateHook

    ecs = client(emulator)
    hook = FargateHook(aws_conn_id="aws_default")
    _make(emulator, ecs)
    services_may_go_on = threading.Event()
    reads: list[str] = []
    read_service = discovery._read_service

    def held_back(hook, cluster, look):  # as DescribeServices at a hundred environments
        reads.append(cluster["clusterName"])
        assert services_may_go_on.wait(timeout=60)
        return read_service(hook, cluster, look)

    try:
        _running_and_not_yet_seen(hook)
        monkeypatch.setattr(discovery, "_read_service", held_back)
        emulator.calls.clear()
        now = dt.datetime.now(dt.UTC)
        first = describe_environments(hook, now, wait=0.2)
        again = describe_environments(hook, now, wait=0.2)
        assert dict(emulator.calls) == {"ListClusters": 2, "DescribeClusters": 2}  # nothing else yet
        for listing in (first, again):
            assert [e["environment"] for e in listing] == sorted(NAMES)
            assert all(e["service_pending"] and e["cost_pending"] for e in listing)
            assert [(e["running_count"], e["desired_count"]) for e in listing] == [(1, None)] * len(NAMES)
            assert all(e["expires_at"] and e["ttl_left_seconds"] > 0 for e in listing)  # what the tags hold is there
        assert sorted(reads) == sorted(f"env-{name}" for name in NAMES)  # one read per service
        services_may_go_on.set()
        wait_for(
            "a listing with every service and cost",
            lambda: (
                not any(e["service_pending"] or e["cost_pending"] for e in describe_environments(hook, now, wait=0.2))
            ),
            timeout=60,
        )
        found = describe_environments(hook, now, wait=0)
        assert emulator.calls["DescribeServices"] == len(NAMES)
        discovery._SERVICES.clear()
        assert found == describe_environments(hook, now)
        assert [(e["service"], e["desired_count"], e["running_count"]) for e in found] == [
            (name, 1, 1) for name in sorted(NAMES)
        ]
    finally:
        services_may_go_on.set()
        _remove(ecs)
