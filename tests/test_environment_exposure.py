"""fargate_provider.environments.exposure against the emulator: an environment's target group and
host-header rule on the ready-made ALB listener, their reuse and removal (ours only), rule priorities
under concurrency, and the URLs of public_ip / none environments from the tasks' ENIs.

ELBv2 API reference, CreateRule, Errors: "PriorityInUse — The specified priority is in use. HTTP Status
Code: 400"; the message AWS actually sends names the priority: "PriorityInUse: Priority '49994' is
currently in use" (as quoted from AWS in wellcomecollection/wellcomecollection.org#6519 and
hashicorp/terraform#24239).
"""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

from fargate_local import leftovers, moto_bridge
from fargate_provider import exceptions as exposure_errors
from fargate_provider.environments import exposure
from fargate_provider.environments.naming import ENVIRONMENT_TAG
from fargate_provider.exceptions import NotOursError
from fargate_provider.utils.tags import MANAGED_BY_KEY, MANAGED_BY_VALUE
from tests.emulator.helpers import FAST, cleanup, client, network, register, wait

CONN = "aws_default"


def tags(environment: str) -> dict[str, str]:
    return {MANAGED_BY_KEY: MANAGED_BY_VALUE, ENVIRONMENT_TAG: environment}


def route(emulator, environment: str, **extra) -> exposure.Route:
    net = emulator.network
    params = {
        "aws_conn_id": CONN,
        "environment": environment,
        "listener_arn": net["listener_arn"],
        "domain": net["environments_domain"],
        "vpc_id": net["vpc_id"],
        "container_port": 8080,
        "tags": tags(environment),
    }
    params.update(extra)
    return exposure.ensure_route(**params)


@pytest.fixture
def elbv2(emulator):
    elbv2 = client(emulator, "elbv2")
    yield elbv2
    # Whatever a failing test left: rules on the ready-made listener, then target groups.
    for rule in rules(elbv2, emulator):
        elbv2.delete_rule(RuleArn=rule["RuleArn"])
    for group in elbv2.describe_target_groups()["TargetGroups"]:
        elbv2.delete_target_group(TargetGroupArn=group["TargetGroupArn"])


def rules(elbv2, emulator) -> list[dict]:
    pages = elbv2.get_paginator("describe_rules").paginate(ListenerArn=emulator.network["listener_arn"])
    return [r for page in pages for r in page["Rules"] if not r["IsDefault"]]


# ------------------------------------------------------------------ the emulator's ready-made ALB


def test_the_ready_made_network_has_an_alb_with_an_http_listener_answering_404_and_it_is_no_leftover(emulator, elbv2):
    net = emulator.network
    balancer = elbv2.describe_load_balancers(LoadBalancerArns=[net["load_balancer_arn"]])["LoadBalancers"][0]
    assert balancer["Scheme"] == "internet-facing" and balancer["Type"] == "application"
    assert sorted(z["SubnetId"] for z in balancer["AvailabilityZones"]) == sorted(net["public_subnets"])
    assert balancer["SecurityGroups"] == [net["security_group"]] and balancer["VpcId"] == net["vpc_id"]
    assert balancer["DNSName"] == net["load_balancer_dns"] and balancer["State"]["Code"] == "active"
    listener = elbv2.describe_listeners(ListenerArns=[net["listener_arn"]])["Listeners"][0]
    assert (listener["Protocol"], listener["Port"]) == ("HTTP", 80)
    assert listener["DefaultActions"][0]["Type"] == "fixed-response"
    assert listener["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"] == "404"
    for arn in (net["load_balancer_arn"], net["listener_arn"]):
        assert {"Key": moto_bridge.NETWORK_TAG, "Value": "true"} in elbv2.describe_tags(ResourceArns=[arn])[
            "TagDescriptions"
        ][0]["Tags"]
    assert net["environments_domain"] == "env.fargate.local"
    assert leftovers.READY_MADE_TAG == moto_bridge.NETWORK_TAG
    assert leftovers.elbv2_leftovers(elbv2) == {}


def test_the_leak_check_counts_what_a_test_adds_to_the_ready_made_alb(emulator, elbv2):
    made = route(emulator, "leaky")
    extra = elbv2.create_listener(
        LoadBalancerArn=emulator.network["load_balancer_arn"],
        Protocol="HTTP",
        Port=8080,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": made.target_group_arn}],
    )["Listeners"][0]["ListenerArn"]
    assert leftovers.elbv2_leftovers(elbv2) == {
        "listeners": [extra],
        "listener_rules": [made.rule_arn],
        "target_groups": ["e-leaky"],
    }
    elbv2.delete_listener(ListenerArn=extra)
    exposure.delete_route(aws_conn_id=CONN, environment="leaky")
    assert leftovers.elbv2_leftovers(elbv2) == {}


def test_create_rule_at_a_priority_in_use_is_refused_as_elbv2_does(emulator, elbv2):
    made = route(emulator, "first")
    with pytest.raises(ClientError) as refused:
        elbv2.create_rule(
            ListenerArn=emulator.network["listener_arn"],
            Priority=made.priority,
            Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["other.env.fargate.local"]}}],
            Actions=[{"Type": "forward", "TargetGroupArn": made.target_group_arn}],
        )
    error = refused.value.response
    assert error["Error"]["Code"] == "PriorityInUse"
    assert error["Error"]["Message"] == f"Priority '{made.priority}' is currently in use"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    exposure.delete_route(aws_conn_id=CONN, environment="first")


def host_rule(elbv2, listener_arn: str, priority: int, host: str, actions: list) -> str:
    return elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=priority,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}],
        Actions=actions,
    )["Rules"][0]["RuleArn"]


def fixed(code: str = "200") -> list:
    return [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": code}}]


def test_rules_past_the_load_balancers_quota_are_refused_on_every_listener_as_elb_does(emulator, elbv2):
    """Rules per Application Load Balancer (default rules excluded): 100, counted across its listeners;
    DescribeAccountLimits gives ELB's documented defaults."""
    net = emulator.network
    limits = {x["Name"]: int(x["Max"]) for x in elbv2.describe_account_limits()["Limits"]}
    assert limits["rules-per-application-load-balancer"] == 100
    assert limits["target-groups-per-application-load-balancer"] == 100
    assert limits["targets-per-application-load-balancer"] == 1000  # moto's table says 30
    second = elbv2.create_listener(
        LoadBalancerArn=net["load_balancer_arn"], Protocol="HTTP", Port=8080, DefaultActions=fixed("404")
    )["Listeners"][0]["ListenerArn"]
    try:
        for i in range(1, 101):  # 60 on the ready-made listener, 40 on the second: 100 in all
            host_rule(elbv2, net["listener_arn"] if i <= 60 else second, i, f"h{i}.example.com", fixed())
        for listener in (net["listener_arn"], second):
            with pytest.raises(ClientError) as refused:
                host_rule(elbv2, listener, 101, "one-more.example.com", fixed())
            error = refused.value.response
            assert error["Error"]["Code"] == "TooManyRules", error
            assert error["Error"]["Message"] == "You've reached the limit on the number of rules per load balancer."
            assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        # A rule gone makes room for one.
        elbv2.delete_rule(RuleArn=rules(elbv2, emulator)[0]["RuleArn"])
        host_rule(elbv2, second, 101, "one-more.example.com", fixed())
    finally:
        elbv2.delete_listener(ListenerArn=second)  # its rules go with it


def test_more_unique_target_groups_than_elb_allows_and_more_condition_values_are_refused(emulator, elbv2):
    net = emulator.network
    groups = [
        elbv2.create_target_group(Name=f"q-{i}", Protocol="HTTP", Port=80, VpcId=net["vpc_id"], TargetType="ip")[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        for i in range(101)
    ]

    def forward_to(batch: list[str]) -> list:
        return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": g} for g in batch]}}]

    for i in range(20):  # 20 rules forwarding to 5 target groups each: 100 target groups
        host_rule(elbv2, net["listener_arn"], i + 1, f"t{i}.example.com", forward_to(groups[5 * i : 5 * i + 5]))
    with pytest.raises(ClientError) as refused:
        host_rule(elbv2, net["listener_arn"], 21, "t21.example.com", forward_to(groups[100:]))
    assert refused.value.response["Error"]["Code"] == "TooManyUniqueTargetGroupsPerLoadBalancer"
    # A target group already in use is counted once.
    host_rule(elbv2, net["listener_arn"], 21, "t21.example.com", forward_to(groups[:1]))
    # ModifyRule to forward to a 101st: refused too.
    last = next(r for r in rules(elbv2, emulator) if r["Priority"] == "21")
    with pytest.raises(ClientError) as refused:
        elbv2.modify_rule(RuleArn=last["RuleArn"], Actions=forward_to(groups[100:]))
    assert refused.value.response["Error"]["Code"] == "TooManyUniqueTargetGroupsPerLoadBalancer"
    # Six condition values in one rule: "A rule can only have '5' condition values".
    six = [{"Field": "source-ip", "SourceIpConfig": {"Values": [f"198.51.100.{i}/32" for i in range(5)]}}]
    with pytest.raises(ClientError) as refused:
        elbv2.modify_rule(
            RuleArn=last["RuleArn"],
            Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["t21.example.com"]}}, *six],
        )
    assert refused.value.response["Error"]["Message"] == "A rule can only have '5' condition values"


def test_a_load_balancer_without_room_refuses_a_new_route_before_anything_is_made(emulator, elbv2):
    """ensure_route reads the rules quota (DescribeAccountLimits) and counts the load balancer's rules:
    without room it raises LoadBalancerFullError, and makes no target group; an environment that has its
    route keeps it; one that needs a second rule (allowed_cidrs) is refused."""
    kept = route(emulator, "kept")
    for i in range(99):  # with kept's rule: 100
        host_rule(elbv2, emulator.network["listener_arn"], 100 + i, f"h{i}.example.com", fixed())
    with pytest.raises(exposure_errors.LoadBalancerFullError) as refused:
        route(emulator, "newcomer")
    message = str(refused.value)
    assert "the load balancer has 100 of its 100 rules (rules-per-application-load-balancer" in message
    assert "Nothing was made" in message and "fargate_environments_listener_arn" in message
    assert "e-newcomer" not in {g["TargetGroupName"] for g in elbv2.describe_target_groups()["TargetGroups"]}
    assert route(emulator, "kept").rule_arn == kept.rule_arn  # needs no new rule
    with pytest.raises(exposure_errors.LoadBalancerFullError, match="this route needs 1 more"):
        route(emulator, "kept", allowed_cidrs=["198.51.100.0/24"])
    exposure.delete_route(aws_conn_id=CONN, environment="kept")
    assert route(emulator, "newcomer").priority == 1  # room again
    exposure.delete_route(aws_conn_id=CONN, environment="newcomer")


# ------------------------------------------------------------------ ensure_route / route_of / delete_route


def test_ensure_route_makes_an_ip_target_group_with_the_health_check_and_a_host_header_rule(emulator, elbv2):
    made = route(emulator, "review-42", health_check_path="/healthz", healthy_codes="200")
    assert made.url == "http://review-42.env.fargate.local"  # the ready-made listener is HTTP
    assert made.priority == 1
    group = elbv2.describe_target_groups(TargetGroupArns=[made.target_group_arn])["TargetGroups"][0]
    assert group["TargetGroupName"] == "e-review-42"
    assert (group["TargetType"], group["Protocol"], group["Port"], group["VpcId"]) == (
        "ip",
        "HTTP",
        8080,
        emulator.network["vpc_id"],
    )
    assert (group["HealthCheckPath"], group["Matcher"]["HttpCode"]) == ("/healthz", "200")
    group_tags = {
        t["Key"]: t["Value"]
        for t in elbv2.describe_tags(ResourceArns=[made.target_group_arn])["TagDescriptions"][0]["Tags"]
    }
    assert group_tags == tags("review-42")
    [rule] = rules(elbv2, emulator)
    assert rule["RuleArn"] == made.rule_arn and rule["Priority"] == "1"
    assert rule["Conditions"][0]["Field"] == "host-header"
    assert rule["Conditions"][0]["HostHeaderConfig"]["Values"] == ["review-42.env.fargate.local"]
    assert rule["Actions"] == [{"Type": "forward", "TargetGroupArn": made.target_group_arn}]
    assert exposure.route_of(aws_conn_id=CONN, environment="review-42") == made
    assert made.to_dict() == {
        "target_group_arn": made.target_group_arn,
        "rule_arn": made.rule_arn,
        "priority": 1,
        "url": made.url,
    }

    # Again: the same target group and rule, the health check updated.
    again = route(emulator, "review-42", health_check_path="/ready", healthy_codes="200-299")
    assert again == made
    group = elbv2.describe_target_groups(TargetGroupArns=[made.target_group_arn])["TargetGroups"][0]
    assert (group["HealthCheckPath"], group["Matcher"]["HttpCode"]) == ("/ready", "200-299")
    assert len(rules(elbv2, emulator)) == 1

    assert exposure.delete_route(aws_conn_id=CONN, environment="review-42") == [made.rule_arn, made.target_group_arn]
    assert rules(elbv2, emulator) == [] and elbv2.describe_target_groups()["TargetGroups"] == []
    assert exposure.route_of(aws_conn_id=CONN, environment="review-42") is None
    assert exposure.delete_route(aws_conn_id=CONN, environment="review-42") == []


def test_an_https_listener_gives_an_https_url(emulator, elbv2, monkeypatch):
    real = exposure._scheme
    monkeypatch.setattr(exposure, "_scheme", lambda elbv2, arn: "https" if real(elbv2, arn) == "http" else "?")
    made = route(emulator, "secure")
    assert made.url == "https://secure.env.fargate.local"
    exposure.delete_route(aws_conn_id=CONN, environment="secure")


def test_two_environments_created_at_once_get_distinct_priorities(emulator, elbv2):
    names = [f"conc-{i}" for i in range(4)]
    barrier = threading.Barrier(len(names))
    made: dict[str, exposure.Route] = {}
    errors: list[BaseException] = []

    def create(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            made[name] = route(emulator, name)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=create, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(r.priority for r in made.values()) == [1, 2, 3, 4]
    assert sorted(int(r["Priority"]) for r in rules(elbv2, emulator)) == [1, 2, 3, 4]
    for name in names:
        assert len(exposure.delete_route(aws_conn_id=CONN, environment=name)) == 2


def test_a_priority_taken_between_reading_and_creating_is_retried_at_the_next_free_one(emulator, elbv2, monkeypatch):
    first = route(emulator, "early")
    real = exposure._used_priorities
    reads = []

    def stale(elbv2, listener_arn):  # the first read misses "early"'s rule, as a racing creator would
        reads.append(1)
        return set() if len(reads) == 1 else real(elbv2, listener_arn)

    monkeypatch.setattr(exposure, "_used_priorities", stale)
    second = route(emulator, "late")
    assert (first.priority, second.priority, len(reads)) == (1, 2, 2)
    monkeypatch.setattr(exposure, "_used_priorities", lambda *_: set())  # always stale: bounded
    monkeypatch.setattr(exposure, "PRIORITY_ATTEMPTS", 2)
    with pytest.raises(exposure.RouteError, match="after 2 attempts"):
        route(emulator, "never")
    exposure.delete_route(aws_conn_id=CONN, environment="never")  # its target group (no rule was made)
    for name in ("early", "late"):
        exposure.delete_route(aws_conn_id=CONN, environment=name)


def test_a_foreign_target_group_of_the_name_is_not_ours_and_left_untouched(emulator, elbv2):
    foreign = elbv2.create_target_group(
        Name="e-taken",
        Protocol="HTTP",
        Port=80,
        VpcId=emulator.network["vpc_id"],
        TargetType="ip",
        HealthCheckPath="/theirs",
    )["TargetGroups"][0]["TargetGroupArn"]
    with pytest.raises(NotOursError, match="e-taken"):
        route(emulator, "taken")
    group = elbv2.describe_target_groups(TargetGroupArns=[foreign])["TargetGroups"][0]
    assert group["HealthCheckPath"] == "/theirs" and rules(elbv2, emulator) == []
    assert exposure.delete_route(aws_conn_id=CONN, environment="taken") == []
    assert exposure.route_of(aws_conn_id=CONN, environment="taken") is None
    assert elbv2.describe_target_groups(TargetGroupArns=[foreign])["TargetGroups"]
    # Tagged for another environment: not ours for this one either.
    elbv2.add_tags(ResourceArns=[foreign], Tags=[{"Key": k, "Value": v} for k, v in tags("other").items()])
    with pytest.raises(NotOursError):
        route(emulator, "taken")
    elbv2.delete_target_group(TargetGroupArn=foreign)


def test_delete_route_leaves_a_foreign_rule_and_target_group_on_the_same_listener(emulator, elbv2):
    net = emulator.network
    foreign_group = elbv2.create_target_group(
        Name="theirs", Protocol="HTTP", Port=80, VpcId=net["vpc_id"], TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    foreign_rule = elbv2.create_rule(
        ListenerArn=net["listener_arn"],
        Priority=1,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["theirs.example.com"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": foreign_group}],
    )["Rules"][0]["RuleArn"]
    made = route(emulator, "mine")
    assert made.priority == 2  # the lowest free one
    assert exposure.delete_route(aws_conn_id=CONN, environment="mine") == [made.rule_arn, made.target_group_arn]
    assert [r["RuleArn"] for r in rules(elbv2, emulator)] == [foreign_rule]
    assert [g["TargetGroupArn"] for g in elbv2.describe_target_groups()["TargetGroups"]] == [foreign_group]
    elbv2.delete_rule(RuleArn=foreign_rule)
    elbv2.delete_target_group(TargetGroupArn=foreign_group)


def test_a_foreign_rule_routing_the_host_is_not_ours(emulator, elbv2):
    net = emulator.network
    made = route(emulator, "shadowed")
    exposure.delete_route(aws_conn_id=CONN, environment="shadowed")
    foreign_group = elbv2.create_target_group(
        Name="theirs", Protocol="HTTP", Port=80, VpcId=net["vpc_id"], TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    foreign_rule = elbv2.create_rule(
        ListenerArn=net["listener_arn"],
        Priority=7,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": [made.url.split("://")[1]]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": foreign_group}],
    )["Rules"][0]["RuleArn"]
    with pytest.raises(NotOursError, match=foreign_rule):
        route(emulator, "shadowed")
    assert [r["RuleArn"] for r in rules(elbv2, emulator)] == [foreign_rule]
    exposure.delete_route(aws_conn_id=CONN, environment="shadowed")
    elbv2.delete_rule(RuleArn=foreign_rule)
    elbv2.delete_target_group(TargetGroupArn=foreign_group)


def test_delete_route_works_when_the_listener_is_gone(emulator, elbv2):
    net = emulator.network
    balancer = elbv2.create_load_balancer(
        Name="temporary", Subnets=net["public_subnets"], SecurityGroups=[net["security_group"]]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=balancer,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )["Listeners"][0]["ListenerArn"]
    made = route(emulator, "orphan", listener_arn=listener)
    elbv2.delete_listener(ListenerArn=listener)
    elbv2.delete_load_balancer(LoadBalancerArn=balancer)
    deleted = exposure.delete_route(aws_conn_id=CONN, environment="orphan")
    assert deleted[-1] == made.target_group_arn
    assert elbv2.describe_target_groups()["TargetGroups"] == []


# ------------------------------------------------------------------ environment_urls


def test_default_expose():
    assert exposure.default_expose("private", "arn:listener", "preview.example.com") == "load_balancer"
    assert exposure.default_expose("public", None, "preview.example.com") == "public_ip"
    assert exposure.default_expose("public", "arn:listener", None) == "public_ip"
    assert exposure.default_expose("private", None, None) == "none"
    assert exposure.EXPOSE_CHOICES == ("load_balancer", "public_ip", "none")


@pytest.mark.parametrize(("kind", "expose"), [("public", "public_ip"), ("private", "none")])
def test_environment_urls_of_the_running_tasks(emulator, kind, expose):
    ecs = client(emulator)
    ec2 = client(emulator, "ec2")
    ecs.create_cluster(clusterName="c")
    try:
        register(ecs, "web", container={"portMappings": [{"containerPort": 8080}]})
        assign = "ENABLED" if expose == "public_ip" else "DISABLED"
        ecs.create_service(
            cluster="c",
            serviceName="web",
            taskDefinition="web",
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration=network(emulator, kind, assignPublicIp=assign),
        )
        ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig=FAST)

        def two_urls() -> list[str] | None:
            urls = exposure.environment_urls(
                aws_conn_id=CONN, cluster="c", service="web", expose=expose, container_port=8080
            )
            return urls if len(urls) == 2 else None

        urls = wait("2 URLs", two_urls)
        arns = ecs.list_tasks(cluster="c", serviceName="web")["taskArns"]
        tasks = ecs.describe_tasks(cluster="c", tasks=arns)["tasks"]
        details = [{d["name"]: d["value"] for d in t["attachments"][0]["details"]} for t in tasks]
        enis = ec2.describe_network_interfaces(NetworkInterfaceIds=[d["networkInterfaceId"] for d in details])[
            "NetworkInterfaces"
        ]
        if expose == "public_ip":
            expected = {f"http://{eni['Association']['PublicIp']}:8080" for eni in enis}
        else:
            assert all("Association" not in eni for eni in enis)
            expected = {f"http://{d['privateIPv4Address']}:8080" for d in details}
        assert len(expected) == 2 and set(urls) == expected
        assert exposure.environment_urls(
            aws_conn_id=CONN,
            cluster="c",
            service="web",
            expose="load_balancer",
            container_port=8080,
            route_url="http://web.x",
        ) == ["http://web.x"]
    finally:
        cleanup(ecs)
