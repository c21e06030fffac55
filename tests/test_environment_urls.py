"""Ephemeral environments people can open (issue 16), through Airflow (dag.test(), real metadata
DB) against the emulator: behind the platform team's load balancer (NAME.<domain>, stable only
with healthy targets), on each task's public IP, or private; the URL in the report; teardown,
destroy and the janitor leave no rule or target group (the emulator fixture's leak check
covers ELBv2)."""

from __future__ import annotations

import pytest

from tests.emulator.helpers import client

DAG_ID = "fargate_ephemeral_environment"


def _targets(emulator, target_group_arn: str) -> list[dict]:
    return client(emulator, "elbv2").describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]


def test_behind_the_load_balancer_the_url_is_the_environments_host_name(
    user_dags, emulator, capfd, load_balancer_variables
):
    conf = {"environment": "shop", "desired_count": 2, "health_check_path": "/healthz"}
    created = user_dags.run(DAG_ID, capfd, run_conf=conf)
    assert created.state == "success", created.task_states
    report = created.xcom["report"]
    url = f"http://shop.{load_balancer_variables['environments_domain']}"
    assert report["expose"] == "load_balancer" and report["urls"] == [url]
    assert f"Environment URL: {url}" in created.log
    assert "[error" not in created.log
    service = client(emulator).describe_services(cluster="env-shop", services=["shop"])["services"][0]
    [balancer] = service["loadBalancers"]
    assert (balancer["containerName"], balancer["containerPort"]) == ("app", 80)
    targets = _targets(emulator, balancer["targetGroupArn"])
    # stable means reachable: both tasks' targets were healthy when the wait ended
    assert [t["TargetHealth"]["State"] for t in targets] == ["healthy", "healthy"]
    group = client(emulator, "elbv2").describe_target_groups(TargetGroupArns=[balancer["targetGroupArn"]])[
        "TargetGroups"
    ][0]
    assert (group["TargetType"], group["HealthCheckPath"]) == ("ip", "/healthz")
    # the environments page lists it with its URL
    import pendulum

    from fargate_provider.environments.discovery import describe_environments
    from fargate_provider.hooks.fargate import FargateHook

    [listed] = describe_environments(FargateHook(aws_conn_id="aws_default"), pendulum.now("UTC"))
    assert listed["urls"] == [url]

    destroyed = user_dags.run(DAG_ID, capfd, run_conf={"environment": "shop", "action": "destroy"})
    assert destroyed.state == "success", destroyed.task_states
    assert destroyed.task_states["destroy_route"] == "success"
    # the emulator fixture fails the test if a rule, target group, service or cluster is left


def test_unhealthy_targets_fail_the_environment_and_the_teardown_leaves_nothing(
    user_dags, emulator, capfd, load_balancer_variables
):
    emulator.add_behaviour(image="registry.example/sick:1", unhealthy_targets=True)
    result = user_dags.run(
        DAG_ID, capfd, run_conf={"environment": "sick", "desired_count": 2, "image": "registry.example/sick:1"}
    )
    assert result.state == "failed"
    assert result.task_states["create_service"] == "failed"
    assert "failed ELB health checks" in result.log or "is unhealthy in (target-group" in result.log
    assert result.task_states["cleanup_route"] == "success" and result.task_states["cleanup_service"] == "success"
    # nothing left: checked by the emulator fixture, ELBv2 included


def test_on_public_ips_there_is_one_url_per_task(user_dags, emulator, capfd):
    created = user_dags.run(
        DAG_ID,
        capfd,
        run_conf={"environment": "open", "desired_count": 2, "subnet_kind": "public", "expose": "public_ip"},
    )
    assert created.state == "success", created.task_states
    report = created.xcom["report"]
    ec2 = client(emulator, "ec2")
    public_ips = {
        i["Association"]["PublicIp"]
        for i in ec2.describe_network_interfaces(
            Filters=[{"Name": "subnet-id", "Values": emulator.network["public_subnets"]}]
        )["NetworkInterfaces"]
        if i.get("Association", {}).get("PublicIp") and i["Description"].startswith("arn:aws:ecs:")
    }
    assert report["expose"] == "public_ip" and len(public_ips) == 2
    assert sorted(report["urls"]) == sorted(f"http://{ip}:80" for ip in public_ips)
    destroyed = user_dags.run(DAG_ID, capfd, run_conf={"environment": "open", "action": "destroy"})
    assert destroyed.state == "success", destroyed.task_states


def test_without_a_load_balancer_private_environments_say_they_are_vpc_only(user_dags, emulator, capfd):
    created = user_dags.run(DAG_ID, capfd, run_conf={"environment": "inner", "desired_count": 1})
    assert created.state == "success", created.task_states
    report = created.xcom["report"]
    assert report["expose"] == "none" and len(report["urls"]) == 1 and report["urls"][0].startswith("http://10.0.12")
    assert "(inside the VPC only)" in created.log
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "inner", "action": "destroy"}).state == "success"


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"expose": "load_balancer"}, "expose: load_balancer needs the Variables fargate_environments_listener_arn"),
        ({"expose": "public_ip"}, "expose: public_ip needs public subnets"),
    ],
)
def test_an_exposure_that_cannot_work_fails_before_anything_is_created(user_dags, emulator, capfd, conf, message):
    result = user_dags.run(DAG_ID, capfd, run_conf={"environment": "nowhere", **conf})
    assert result.state == "failed" and result.task_states["prepare"] == "failed"
    assert message in result.log
    assert client(emulator).list_clusters()["clusterArns"] == []


def test_the_janitor_removes_an_expired_environments_route_too(user_dags, emulator, capfd, load_balancer_variables):
    import datetime as dt

    created = user_dags.run(DAG_ID, capfd, run_conf={"environment": "old-lb", "desired_count": 1})
    assert created.state == "success", created.task_states
    ecs, elbv2 = client(emulator), client(emulator, "elbv2")
    assert [g["TargetGroupName"] for g in elbv2.describe_target_groups()["TargetGroups"]] == ["e-old-lb"]
    arn = ecs.describe_clusters(clusters=["env-old-lb"])["clusters"][0]["clusterArn"]
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "fargate-expires-at", "value": past}])
    janitor = user_dags.run("fargate_environment_janitor", capfd)
    assert janitor.state == "success", janitor.task_states
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    rules = elbv2.describe_rules(ListenerArn=load_balancer_variables["listener_arn"])["Rules"]
    assert [r["IsDefault"] for r in rules] == [True]  # only the listener's own default rule is left
