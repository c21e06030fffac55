"""Environment naming, tagging and task definitions; network discovery; require_tags."""

from __future__ import annotations

import datetime as dt

import pytest

from fargate_provider.environments import naming, task_definition
from fargate_provider.utils.networking import NetworkNotFound, discover_network, parse_id_list

NOW = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.UTC)


def test_names_derive_every_resource_from_the_environment_name():
    env = naming.names("review-42")
    assert (env.cluster, env.service, env.family, env.log_group) == (
        "env-review-42",
        "review-42",
        "env-review-42",
        "/airflow/fargate/environments/review-42",
    )


@pytest.mark.parametrize("bad", ["", "a", "Review", "9lives", "ends-", "x" * 31, "has_underscore", None])
def test_bad_environment_names_are_refused_with_the_rule(bad):
    with pytest.raises(naming.EnvironmentSpecError, match="environment: .* lower-case letters, digits and hyphens"):
        naming.names(bad)


def test_tags_carry_the_expiry_in_utc():
    tags = naming.environment_tags("review-42", 8, NOW)
    assert tags == {"fargate-environment": "review-42", "fargate-expires-at": "2026-11-28T20:00:00Z"}
    assert naming.expires_at(tags) == NOW + dt.timedelta(hours=8)
    for bad in (0, 169, "8", True):
        with pytest.raises(naming.EnvironmentSpecError, match="ttl_hours: must be a number of hours from 1 to 168"):
            naming.environment_tags("x1", bad, NOW)


def test_task_definition_from_the_form_is_valid_for_fargate():
    from fargate_provider.roles import task_definition_roles
    from fargate_rules.task_definition_spec import TaskDefinitionError, validate_task_definition

    spec = task_definition.environment_task_definition(
        naming.names("web-1"),
        image="nginx:1.27",
        size="1024/3072",
        container_port=8080,
        variables={"LOG_LEVEL": "debug", "WORKERS": 4, "DEBUG": False},
        region="eu-west-1",
    )
    with pytest.raises(TaskDefinitionError, match="execution role ARN to support log driver awslogs"):
        validate_task_definition(spec)  # the DAG adds the roles it found: ECS needs one for awslogs
    spec.update(task_definition_roles({"execution_role_arn": "ecsTaskExecutionRole", "task_role_arn": None}))
    request = validate_task_definition(spec)
    assert request["executionRoleArn"] == "ecsTaskExecutionRole" and "taskRoleArn" not in request
    container = request["containerDefinitions"][0]
    assert (request["family"], request["cpu"], request["memory"]) == ("env-web-1", "1024", "3072")
    assert container["portMappings"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]
    assert container["environment"] == [
        {"name": "DEBUG", "value": "false"},
        {"name": "LOG_LEVEL", "value": "debug"},
        {"name": "WORKERS", "value": "4"},
    ]
    assert container["logConfiguration"]["options"]["awslogs-region"] == "eu-west-1"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("image", "", "image: give an image reference"),
        ("image", "has space:1", "image: give an image reference"),
        ("size", "256/4096", "size: '256/4096' is not a Fargate size .*memory 4096 MiB does not fit cpu 256"),
        ("size", "lots", "size: 'lots' is not a Fargate size"),
        ("container_port", 70000, "container_port: must be a port number from 1 to 65535"),
        ("variables", {"1ABC": "x"}, "environment_variables: '1ABC' is not a variable name"),
        ("variables", {"OK": {"nested": 1}}, "environment_variables.OK: must be a string, number or boolean"),
    ],
)
def test_bad_form_values_name_the_field(field, value, message):
    kwargs = {
        "image": "nginx:1",
        "size": "256/512",
        "container_port": 80,
        "variables": {},
        "region": "us-east-1",
        field: value,
    }
    with pytest.raises(ValueError, match=message):
        task_definition.environment_task_definition(naming.names("web-1"), **kwargs)


def test_network_from_tags_of_the_emulator(emulator):
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=emulator.endpoint, region_name="us-east-1")
    private = discover_network("private", lambda key: None, lambda: ec2)
    public = discover_network("public", lambda key: None, lambda: ec2)
    assert private["subnets"] == sorted(emulator.network["private_subnets"]) and private["assign_public_ip"] is False
    assert public["subnets"] == sorted(emulator.network["public_subnets"]) and public["assign_public_ip"] is True
    assert private["security_groups"] == [emulator.network["security_group"]]
    assert "tagged fargate:subnet-kind=private" in private["source"]


def test_variables_win_over_tags_and_no_ec2_call_is_made():
    variables = {"fargate_public_subnets": '["subnet-0a", "subnet-0b"]', "fargate_security_groups": "sg-01, sg-02"}

    def no_ec2():
        raise AssertionError("EC2 was called although Variables give the network")

    found = discover_network("public", variables.get, no_ec2)
    assert found["subnets"] == ["subnet-0a", "subnet-0b"] and found["security_groups"] == ["sg-01", "sg-02"]
    assert parse_id_list(" subnet-1 ,subnet-2,", "x") == ["subnet-1", "subnet-2"]


def test_missing_network_says_how_to_provide_it(emulator):
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=emulator.endpoint, region_name="eu-west-1")  # no tagged network there
    with pytest.raises(
        NetworkNotFound,
        match="no private subnets found; tag them fargate:subnet-kind=private "
        "or set the Variable fargate_private_subnets",
    ):
        discover_network("private", lambda key: None, lambda: ec2)
    with pytest.raises(ValueError, match="subnet_kind: 'dmz' is not allowed; allowed: private, public"):
        discover_network("dmz", lambda key: None, lambda: ec2)


def test_delete_operators_leave_resources_without_the_required_tags(airflow, emulator, ecs, capfd):
    """require_tags: a cluster or service the provider does not manage is refused, not deleted."""
    network = {
        "awsvpcConfiguration": {
            "subnets": emulator.network["private_subnets"],
            "securityGroups": [emulator.network["security_group"]],
        }
    }
    ecs.register_task_definition(
        family="theirs",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx", "essential": True}],
    )
    ecs.create_service(
        cluster="c",
        serviceName="theirs",
        taskDefinition="theirs:1",
        desiredCount=0,
        launchType="FARGATE",
        networkConfiguration=network,
    )
    required = {"managed-by": "airflow-provider-fargate"}
    service_dag = airflow.write_operator_dag(
        "fargate_provider.operators.service.FargateDeleteServiceOperator",
        f"cluster='c', service='theirs', require_tags={required!r}",
    )
    cluster_dag = airflow.write_operator_dag(
        "fargate_provider.operators.cluster.FargateDeleteClusterOperator",
        f"cluster_name='c', cascade=True, require_tags={required!r}",
    )
    td_dag = airflow.write_operator_dag(
        "fargate_provider.operators.task_definition.FargateDeregisterTaskDefinitionOperator",
        f"task_definition='theirs', require_tags={required!r}",
    )
    for dag_id, message in (
        (service_dag, "Service theirs does not carry the tag(s) managed-by=airflow-provider-fargate; left alone"),
        (cluster_dag, "Cluster c does not carry the tag(s) managed-by=airflow-provider-fargate; left alone"),
    ):
        result = airflow.run(dag_id, capfd)
        assert result.state == "failed" and message in result.log
    result = airflow.run(td_dag, capfd)
    assert result.state == "success" and result.xcom["task"] == []
    assert "Task definition theirs:1 does not carry the tag(s) managed-by=airflow-provider-fargate" in result.log
    assert ecs.describe_services(cluster="c", services=["theirs"])["services"][0]["status"] == "ACTIVE"
    assert ecs.describe_task_definition(taskDefinition="theirs:1")["taskDefinition"]["status"] == "ACTIVE"
    ecs.delete_service(cluster="c", service="theirs", force=True)
    ecs.deregister_task_definition(taskDefinition="theirs:1")
