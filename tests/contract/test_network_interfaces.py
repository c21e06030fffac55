"""A Fargate task's network interface, as ECS and EC2 show it. Sources:
- Task networking for Fargate (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html):
  every task gets an ENI with a primary private IP; "When using a public subnet, you can optionally assign a
  public IP address to the task's ENI".
- Allocate a network interface for an Amazon ECS task (task-networking-awsvpc.html): the ENIs "are visible in
  the Amazon EC2 console for your account. Your account can't detach or modify the ENIs ... When the task stops
  or if the service is scaled down, the task ENI is detached and deleted."
- Task lifecycle (task-lifecycle-explanation.html): PROVISIONING — "the elastic network interface needs to be
  provisioned"; DEPROVISIONING — it is detached and deleted.
- API_AwsVpcConfiguration: ``assignPublicIp`` "The default value is DISABLED".
- API_Attachment (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Attachment.html): status is
  one of PRECREATED, CREATED, ATTACHING, ATTACHED, DETACHING, DETACHED, DELETED, FAILED; for an ENI the details
  hold the network interface ID, MAC address, subnet ID and private IPv4 address.
- RunTask's answer for an awsvpc task (aws-cli's examples/ecs/run-task.rst): the ElasticNetworkInterface
  attachment is PRECREATED with only ``subnetId``; a STOPPED task keeps it, DELETED, with its details (ECS Task
  State Change events as users quote them, e.g. in EventBridge samples of STOPPED tasks).
- "Creating an Amazon ECS Linux task for Fargate with the AWS CLI", step "Test"
  (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ECS_AWSCLI_Fargate.html): the public IP is read
  with ``aws ec2 describe-network-interfaces --network-interface-id <eni>`` from ``Association.PublicIp``
  (``IpOwnerId`` "amazon": not an Elastic IP of the account).
- How EC2 describes an ECS task's ENI (DescribeNetworkInterfaces as observed, e.g. binxio/ecs-dns-registrator's
  test data): Description ``arn:aws:ecs:<region>:<account>:attachment/<attachment id>``, InterfaceType
  "interface", RequesterManaged true, Status "in-use".
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
from botocore.exceptions import ClientError

from tests.contract.conftest import CONTRACT_TAG, TIMEOUT, awsvpc
from tests.emulator.helpers import register
from tests.helpers.polling import wait_for

WAITER = {"Delay": 6, "MaxAttempts": 100} if TIMEOUT > 60 else {"Delay": 0.1, "MaxAttempts": 300}
# A container that stays up on AWS (the emulator keeps a service's task running anyway).
LONG_RUNNING = {"command": ["sleep", "3600"]}


def details_of(task: dict) -> tuple[dict, dict[str, str]]:
    attachment = next(a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface")
    return attachment, {d["name"]: d["value"] for d in attachment["details"]}


def eni_of(ec2, eni_id: str) -> dict:
    return ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]


@contextmanager
def service_task(ecs, cluster: str, network: dict, family: str):
    """A one-task service; yields its task once RUNNING. Afterwards the service is deleted and its
    task waited for until STOPPED (so its ENI is gone), and the task definition deregistered."""
    arn = register(ecs, family=family, container=LONG_RUNNING)
    ecs.create_service(
        cluster=cluster,
        serviceName=family,
        taskDefinition=arn,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
        tags=[CONTRACT_TAG],
    )
    try:

        def running():
            arns = ecs.list_tasks(cluster=cluster, serviceName=family)["taskArns"]
            tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
            return next((t for t in tasks if t["lastStatus"] == "RUNNING"), None)

        yield wait_for(f"a RUNNING task of {family}", running, TIMEOUT, interval=0.05 if TIMEOUT < 60 else 5)
    finally:
        ecs.delete_service(cluster=cluster, service=family, force=True)
        ecs.get_waiter("services_inactive").wait(cluster=cluster, services=[family], WaiterConfig=WAITER)
        tasks = [
            arn
            for status in ("RUNNING", "STOPPED")
            for arn in ecs.list_tasks(cluster=cluster, serviceName=family, desiredStatus=status)["taskArns"]
        ]
        if tasks:
            ecs.get_waiter("tasks_stopped").wait(cluster=cluster, tasks=tasks, WaiterConfig=WAITER)
        ecs.deregister_task_definition(taskDefinition=arn)


def test_run_task_answers_with_the_attachment_precreated(aws, task_network, cluster):
    """While PROVISIONING, ECS has not made the ENI yet: the attachment is PRECREATED with the subnet only."""
    ecs = aws("ecs")
    family = f"contract-eni-{uuid.uuid4().hex[:8]}"
    arn = register(ecs, family=family)
    task = ecs.run_task(cluster=cluster, taskDefinition=arn, launchType="FARGATE", networkConfiguration=task_network)[
        "tasks"
    ][0]
    try:
        assert task["lastStatus"] == "PROVISIONING"
        attachment, details = details_of(task)
        assert attachment["status"] == "PRECREATED"
        assert list(details) == ["subnetId"] and details["subnetId"] in task_network["awsvpcConfiguration"]["subnets"]
    finally:
        ecs.stop_task(cluster=cluster, task=task["taskArn"])
        ecs.get_waiter("tasks_stopped").wait(cluster=cluster, tasks=[task["taskArn"]], WaiterConfig=WAITER)
        ecs.deregister_task_definition(taskDefinition=arn)


def test_the_task_eni_is_known_to_ec2_in_its_subnet_with_its_private_ip(aws, task_network, cluster):
    ecs, ec2 = aws("ecs"), aws("ec2")
    with service_task(ecs, cluster, task_network, f"contract-eni-{uuid.uuid4().hex[:8]}") as task:
        attachment, details = details_of(task)
        assert attachment["status"] == "ATTACHED"
        assert {"subnetId", "networkInterfaceId", "macAddress", "privateIPv4Address"} <= set(details)
        eni = eni_of(ec2, details["networkInterfaceId"])
        assert eni["SubnetId"] == details["subnetId"]
        assert eni["PrivateIpAddress"] == details["privateIPv4Address"]
        assert eni["MacAddress"] == details["macAddress"]
        assert eni["AvailabilityZone"] == task["availabilityZone"]
        assert [g["GroupId"] for g in eni["Groups"]] == task_network["awsvpcConfiguration"]["securityGroups"]
        region, account = task["taskArn"].split(":")[3:5]
        assert eni["Description"] == f"arn:aws:ecs:{region}:{account}:attachment/{attachment['id']}"
        assert (eni["InterfaceType"], eni["RequesterManaged"], eni["Status"]) == ("interface", True, "in-use")
        # assignPublicIp defaults to DISABLED (API_AwsVpcConfiguration): no public IP
        assert "Association" not in eni
        assert task["containers"][0]["networkInterfaces"] == [
            {"attachmentId": attachment["id"], "privateIpv4Address": details["privateIPv4Address"]}
        ]


def test_assign_public_ip_enabled_gives_the_eni_a_public_ip_of_amazon(aws, request, cluster):
    ecs, ec2 = aws("ecs"), aws("ec2")
    enabled = {"awsvpcConfiguration": {**awsvpc(request, "public")["awsvpcConfiguration"], "assignPublicIp": "ENABLED"}}
    with service_task(ecs, cluster, enabled, f"contract-public-{uuid.uuid4().hex[:8]}") as task:
        details = details_of(task)[1]
        association = eni_of(ec2, details["networkInterfaceId"])["Association"]
        assert association["PublicIp"] and association["IpOwnerId"] == "amazon"
        assert association["PublicIp"] not in {
            a["PublicIp"] for a in ec2.describe_addresses()["Addresses"]
        }  # not an Elastic IP
        assert "publicIPv4Address" not in details  # ECS names the ENI; EC2 tells its public IP


def test_a_stopped_task_keeps_its_attachment_deleted_and_its_eni_is_gone(aws, task_network, cluster):
    ecs, ec2 = aws("ecs"), aws("ec2")
    with service_task(ecs, cluster, task_network, f"contract-eni-{uuid.uuid4().hex[:8]}") as task:
        eni_id = details_of(task)[1]["networkInterfaceId"]
        assert eni_of(ec2, eni_id)["NetworkInterfaceId"] == eni_id
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED"
    attachment, details = details_of(stopped)
    assert attachment["status"] == "DELETED" and details["networkInterfaceId"] == eni_id
    with pytest.raises(ClientError) as gone:
        ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])
    assert gone.value.response["Error"]["Code"] == "InvalidNetworkInterfaceID.NotFound"
