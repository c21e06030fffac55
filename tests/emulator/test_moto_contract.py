"""What the emulator relies on in moto. These fail loudly when the pinned moto changes."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

from fargate_local import moto_bridge


def test_moto_is_the_pinned_version():
    assert moto_bridge.moto_version() == moto_bridge.PINNED_MOTO_VERSION


def test_the_internals_the_bridge_uses_are_there():
    from moto.ecs.models import EC2ContainerServiceBackend, Service
    from moto.logs.models import LogsBackend

    backend_params = inspect.signature(EC2ContainerServiceBackend.create_service).parameters
    for name in (
        "cluster_str",
        "service_name",
        "desired_count",
        "task_definition_str",
        "network_configuration",
        "launch_type",
        "tags",
        "propagate_tags",
        "platform_version",
        "deployment_controller",
    ):
        assert name in backend_params, name
    for attribute in ("clusters", "services", "tasks", "task_definitions"):
        assert attribute in vars(EC2ContainerServiceBackend("us-east-1", "123456789012")), attribute
    assert {"describe_task_definition", "list_tags_for_resource"} <= set(dir(EC2ContainerServiceBackend))
    assert "_validate_network" in dir(Service)
    assert list(inspect.signature(LogsBackend.put_log_events).parameters)[1:4] == [
        "log_group_name",
        "log_stream_name",
        "log_events",
    ]
    assert callable(moto_bridge.reset_moto) and callable(moto_bridge.make_moto_app)
    # A task's ENI (moto_bridge.create_task_network_interface): moto's EC2 model of one, its store, its ids.
    from moto.ec2.models import EC2Backend
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ec2.utils import random_eni_attach_id, random_public_ip

    assert list(inspect.signature(NetworkInterface.__init__).parameters)[1:4] == [
        "ec2_backend",
        "subnet",
        "private_ip_address",
    ]
    assert {"group_ids", "description"} <= set(inspect.signature(NetworkInterface.__init__).parameters)
    assert "enis" in vars(EC2Backend("us-east-1", "123456789012"))
    assert random_eni_attach_id().startswith("eni-attach-") and random_public_ip().count(".") == 3
    # The load balancer quotas (moto_bridge._balancer_usage): a backend's load balancers, their
    # listeners, each listener's rules (default included) with their actions.
    from moto.elbv2.models import ELBv2Backend, FakeListener, FakeListenerRule, FakeLoadBalancer

    assert "load_balancers" in vars(ELBv2Backend("us-east-1", "123456789012"))
    assert isinstance(FakeListener.rules, property)
    assert {"listener_arn", "arn", "actions", "priority"} <= set(
        inspect.signature(FakeListenerRule.__init__).parameters
    )
    assert "is_default" in inspect.getsource(FakeListenerRule.__init__)
    assert "self.listeners" in inspect.getsource(FakeLoadBalancer.__init__)


MODEL_SCRIPT = """
import json
from fargate_local import moto_bridge as bridge

account, region = "123456789012", "us-east-1"
network = bridge.create_network(account, region)
backend = bridge.ecs_backend(account, region)
cluster = backend.create_cluster("c", capacity_providers=["FARGATE"])
task_definition = backend.register_task_definition(
    "f", [{"name": "a", "image": "x"}], network_mode="awsvpc", requires_compatibilities=["FARGATE"],
    cpu="256", memory="512",
)
service = bridge.create_moto_service(
    backend, cluster_str="c", service_name="s", desired_count=1, task_definition_str=task_definition.arn,
    launch_type="FARGATE",
    network_configuration={
        "awsvpcConfiguration": {"subnets": network["private_subnets"], "securityGroups": [network["security_group"]]}
    },
)
objects = {"Cluster": cluster, "TaskDefinition": task_definition, "Service": service}
missing = {
    kind: [a for a in names if not hasattr(objects[kind], a)] for kind, names in bridge.MODEL_ATTRIBUTES_USED.items()
}
print(json.dumps(missing))
"""


def test_moto_models_have_the_attributes_the_control_plane_uses():
    result = subprocess.run([sys.executable, "-c", MODEL_SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"Cluster": [], "TaskDefinition": [], "Service": []}


PLAIN_MOTO_SCRIPT = """
import boto3
import pytest
from moto import mock_aws

with mock_aws():
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="g", Description="g", VpcId=vpc)["GroupId"]
    ecs = boto3.client("ecs", region_name="us-east-1")
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(
        family="f", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "a", "image": "busybox"}],
    )
    awsvpc = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}
    ecs.create_service(
        cluster="c", serviceName="s", taskDefinition="f", desiredCount=1, launchType="FARGATE",
        networkConfiguration=awsvpc,
    )
    service = ecs.describe_services(cluster="c", services=["s"])["services"][0]
    assert (service["runningCount"], service["pendingCount"]) == (0, 1)
    assert service["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert ecs.list_tasks(cluster="c")["taskArns"] == []
    # moto's own RunTask breaks on Fargate: no container-level memory, then the awsvpc ENI
    with pytest.raises(TypeError, match="unsupported operand"):
        ecs.run_task(cluster="c", taskDefinition="f", launchType="FARGATE", networkConfiguration=awsvpc)
    ecs.register_task_definition(
        family="m", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "a", "image": "busybox", "memory": 512}],
    )
    with pytest.raises(AttributeError, match="private_dns_name"):
        ecs.run_task(cluster="c", taskDefinition="m", launchType="FARGATE", networkConfiguration=awsvpc)
    print("plain moto still lacks the control plane")
"""


def test_plain_moto_still_lacks_the_control_plane():
    """Had moto learnt any of this, the emulator's own version should be reconsidered.

    Run in a child process: mock_aws resets moto's global state, which the emulator shares."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", PLAIN_MOTO_SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "plain moto still lacks the control plane" in result.stdout


def test_the_app_finds_each_hosts_backend_once_and_the_same_as_moto(monkeypatch):
    """moto lists its package's folders (a stat each) and matches its URL patterns for every request to
    find the backend; the emulator's app does so once per host (a fifth of a DescribeServices' time)."""
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    listed = []
    list_of_moto_modules = backends.list_of_moto_modules
    monkeypatch.setattr(backends, "list_of_moto_modules", lambda: listed.append(1) or list_of_moto_modules())
    plain, ours = DomainDispatcherApplication(create_backend_app), moto_bridge.make_moto_app()
    hosts = ("ecs", "ecs.us-east-1.amazonaws.com", "elasticloadbalancing.eu-west-1.amazonaws.com", "nowhere.example")
    for host in hosts:
        assert ours.get_backend_for_host(host) == plain.get_backend_for_host(host), host
    assert [ours.get_backend_for_host("ecs.us-east-1.amazonaws.com") for _ in range(3)] == ["ecs"] * 3
    listed.clear()
    for host in hosts * 3:
        ours.get_backend_for_host(host)
    assert listed == []
