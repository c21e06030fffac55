"""What fargate_local.load_balancers relies on in moto's ELBv2, and that its wrapping of
DescribeTargetHealth leaves target groups it does not manage answering as moto does. Child
processes: mock_aws resets moto's global state, which the emulator shares."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import json
import boto3
from moto import mock_aws
from moto.elbv2.models import elbv2_backends

from fargate_local import load_balancers, moto_bridge

with mock_aws():
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    elbv2 = boto3.client("elbv2", region_name="us-east-1")
    group = elbv2.create_target_group(Name="t", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")
    arn = group["TargetGroups"][0]["TargetGroupArn"]
    backend = elbv2_backends["123456789012"]["us-east-1"]
    objects = {
        "ELBv2Backend": backend,
        "FakeTargetGroup": backend.target_groups[arn],
        "FakeHealthStatus": moto_bridge.FakeHealthStatus,
    }
    missing = {
        kind: [a for a in names if not hasattr(objects[kind], a)]
        for kind, names in load_balancers.MODEL_ATTRIBUTES_USED.items()
    }
    # A target group the emulator does not manage: moto's answers (healthy at once, forgotten once deregistered).
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.0.5", "Port": 80}])
    registered = [
        t["TargetHealth"]["State"] for t in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    ]
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.0.5", "Port": 80}])
    deregistered = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    print(json.dumps({"missing": missing, "registered": registered, "deregistered": deregistered}))
"""


def test_moto_elbv2_has_what_load_balancers_uses_and_unmanaged_groups_answer_as_moto_does():
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["missing"] == {"ELBv2Backend": [], "FakeTargetGroup": [], "FakeHealthStatus": []}
    # Had moto learnt ELB's initial/draining states, load_balancers' own should be reconsidered.
    assert found["registered"] == ["healthy"]
    assert found["deregistered"] == []
