"""AWS's tutorial "Creating an Amazon ECS Linux task for Fargate with the AWS CLI"
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ECS_AWSCLI_Fargate.html; its source:
awsdocs/amazon-ecs-developer-guide doc_source/ECS_AWSCLI_Fargate.md), run end to end with the real
``aws`` binary: create-cluster, register-task-definition from the tutorial's JSON file, list-task-definitions,
create-service in a public subnet with ``assignPublicIp=ENABLED``, list-services, describe-services, then
step "Test": describe the service's task, take ``networkInterfaceId`` from its attachment and read the public IP
with ``aws ec2 describe-network-interfaces --network-interface-id`` — then the clean-up the tutorial gives
(delete-service --force, delete-cluster) and a deregister-task-definition, so nothing is left behind.

Names get a run suffix so runs against an account do not collide (the tutorial's are fargate-cluster,
fargate-service, sample-fargate), and the cluster and service carry the suite's tag. The tutorial's task
definition has no log configuration, so no execution role; nor does it need one here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.contract.conftest import AGAINST_AWS, CONTRACT_TAG, TIMEOUT, awsvpc
from tests.helpers.polling import wait_for

AWS_CLI = Path(sys.executable).with_name("aws")
# Not in the tutorial: the contract suite tags what it creates (see conftest), in the CLI's shorthand.
TAG = f"key={CONTRACT_TAG['key']},value={CONTRACT_TAG['value']}"

# Step 2's task definition, as the tutorial gives it.
TUTORIAL_TASK_DEFINITION = {
    "family": "sample-fargate",
    "networkMode": "awsvpc",
    "containerDefinitions": [
        {
            "name": "fargate-app",
            "image": "public.ecr.aws/docker/library/httpd:latest",
            "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
            "essential": True,
            "entryPoint": ["sh", "-c"],
            "command": [
                (
                    "/bin/sh -c \"echo '<html> <head> <title>Amazon ECS Sample App</title> "
                    "<style>body {margin-top: 40px; background-color: #333;} </style> </head><body> "
                    "<div style=color:white;text-align:center> "
                    "<h1>Amazon ECS Sample App</h1> <h2>Congratulations!</h2> <p>Your application is now running on a "
                    "container in Amazon ECS.</p> </div></body></html>' >  /usr/local/apache2/htdocs/index.html "
                    '&& httpd-foreground"'
                )
            ],
        }
    ],
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
}


@pytest.fixture
def aws_cli(request, tmp_path):
    """``aws_cli("ecs", "create-cluster", ...)`` → the command's JSON output (fails the test on a non-zero exit)."""
    if not AWS_CLI.exists():
        pytest.skip(f"the AWS CLI is not installed next to {sys.executable}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} if not AGAINST_AWS else dict(os.environ)
    env["AWS_PAGER"] = ""
    if not AGAINST_AWS:
        emulator = request.getfixturevalue("emulator")
        env.update(
            AWS_ENDPOINT_URL=emulator.endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            # the developer's own ~/.aws must not play a part
            AWS_CONFIG_FILE=str(tmp_path / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        )

    def run(*args: str) -> dict:
        done = subprocess.run(
            [str(AWS_CLI), *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"aws {' '.join(args)} exited {done.returncode}: {done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else {}

    return run


def test_the_fargate_cli_tutorial_end_to_end(aws, aws_cli, request, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    cluster, service, family = f"fargate-cluster-{suffix}", f"fargate-service-{suffix}", f"sample-fargate-{suffix}"
    public = awsvpc(request, "public")["awsvpcConfiguration"]
    subnet, group = public["subnets"][0], public["securityGroups"][0]

    # Step 1: Create a cluster
    created = aws_cli("ecs", "create-cluster", "--cluster-name", cluster, "--tags", TAG)["cluster"]
    assert (created["clusterName"], created["status"]) == (cluster, "ACTIVE")
    task_definition_arn = service_arn = None
    try:
        # Step 2: Register a Linux task definition, from a JSON file
        spec = tmp_path / "fargate-task.json"
        spec.write_text(json.dumps({**TUTORIAL_TASK_DEFINITION, "family": family}, indent=4))
        registered = aws_cli("ecs", "register-task-definition", "--cli-input-json", f"file://{spec}")["taskDefinition"]
        task_definition_arn = registered["taskDefinitionArn"]
        assert (registered["family"], registered["revision"], registered["status"]) == (family, 1, "ACTIVE")

        # Step 3: List task definitions
        assert task_definition_arn in aws_cli("ecs", "list-task-definitions")["taskDefinitionArns"]

        # Step 4: Create a service (the public-subnet example)
        created_service = aws_cli(
            "ecs",
            "create-service",
            "--cluster",
            cluster,
            "--service-name",
            service,
            "--task-definition",
            f"{family}:1",
            "--desired-count",
            "1",
            "--launch-type",
            "FARGATE",
            "--network-configuration",
            f"awsvpcConfiguration={{subnets=[{subnet}],securityGroups=[{group}],assignPublicIp=ENABLED}}",
            "--tags",
            TAG,
        )["service"]
        service_arn = created_service["serviceArn"]
        assert created_service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "ENABLED"

        # Step 5: List services
        assert aws_cli("ecs", "list-services", "--cluster", cluster)["serviceArns"] == [service_arn]

        # Step 6: Describe the running service
        def running_service():
            described = aws_cli("ecs", "describe-services", "--cluster", cluster, "--services", service)
            assert described["failures"] == []
            found = described["services"][0]
            return found if found["runningCount"] == 1 else None

        described = wait_for(
            "the service to run its task", running_service, TIMEOUT, interval=0.05 if TIMEOUT < 60 else 5
        )
        assert (described["status"], described["desiredCount"], described["launchType"]) == ("ACTIVE", 1, "FARGATE")

        # Step 7: Test — describe the task, find its ENI, and read the public IP from EC2
        task_arns = aws_cli("ecs", "list-tasks", "--cluster", cluster, "--service-name", service)["taskArns"]
        task = aws_cli("ecs", "describe-tasks", "--cluster", cluster, "--tasks", *task_arns)["tasks"][0]
        attachment = next(a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface")
        assert attachment["status"] == "ATTACHED"
        eni_id = next(d["value"] for d in attachment["details"] if d["name"] == "networkInterfaceId")
        interfaces = aws_cli("ec2", "describe-network-interfaces", "--network-interface-id", eni_id)[
            "NetworkInterfaces"
        ]
        assert [i["NetworkInterfaceId"] for i in interfaces] == [eni_id]
        association = interfaces[0]["Association"]
        assert association["IpOwnerId"] == "amazon"
        octets = association["PublicIp"].split(".")
        assert len(octets) == 4 and all(o.isdigit() and 0 <= int(o) <= 255 for o in octets)
    finally:
        # Step 8: Clean up
        if service_arn:
            aws_cli("ecs", "delete-service", "--cluster", cluster, "--service", service, "--force")
            # Its tasks stop (and their ENIs go) before the cluster is deleted: polled with boto3 (`aws ecs wait`
            # sleeps 6-15 s between checks, and each CLI call starts a Python).
            ecs = aws("ecs")

            def all_stopped():
                if ecs.describe_services(cluster=cluster, services=[service])["services"][0]["status"] != "INACTIVE":
                    return False
                arns = ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"]
                return all(
                    t["lastStatus"] == "STOPPED"
                    for t in (ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else [])
                )

            wait_for("the service's tasks to stop", all_stopped, TIMEOUT, interval=0.05 if TIMEOUT < 60 else 5)
        aws_cli("ecs", "delete-cluster", "--cluster", cluster)
        if task_definition_arn:
            aws_cli("ecs", "deregister-task-definition", "--task-definition", task_definition_arn)
