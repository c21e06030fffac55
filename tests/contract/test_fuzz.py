"""Malformed requests to every ECS operation the emulator implements: each answer is a 4xx with
an ECS-shaped error body (``{"__type": ..., "message": ...}``), never a 500, never a 200.

The requests are raw signed POSTs in ECS's JSON protocol (X-Amz-Target
``AmazonEC2ContainerServiceV20141113.<Operation>``, ``application/x-amz-json-1.1``), generated
deterministically (seeded) from botocore's service model for ECS: wrong JSON types, missing or
null required members, unknown enum values, numbers out of range, strings over their length,
bodies that are not JSON or not an object. Sources for what ECS answers:
- Wrong types: ECS's frontend refuses a value it cannot convert, e.g.
  "InvalidParameterException: STRING_VALUE cannot be converted to Integer" (artilleryio/artillery#3727,
  RunTask; aws-actions/amazon-ecs-deploy-task-definition#587, RegisterTaskDefinition).
- Missing members: "Family can not be blank." (aws-actions/amazon-ecs-deploy-task-definition#630),
  "Container list cannot be empty." (ClientException, awsdocs/aws-cloudformation-user-guide#454),
  "Tasks cannot be empty." (openfresh/ecs-formation#38).
- Unknown enum values: ECS's "launchType should be one of [EC2,FARGATE,EXTERNAL]." form.
- A body that is not JSON: the JSON protocol's SerializationException.
- An empty body is not malformed: "Service implementations must support no payload or an empty
  object payload" (Smithy's awsJson1_1 protocol tests, AwsJson10ServiceSupportsNoPayloadForNoInput),
  so it is refused only where the operation has required members.
Error codes allowed: those botocore's model lists for the operation, plus the protocol's own
(SerializationException, ValidationException) and ECS's common ones.

Emulator only: fuzzing a real account is not wanted (skipped with FARGATE_CONTRACT_AWS=1).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.contract.conftest import AGAINST_AWS

pytestmark = pytest.mark.skipif(AGAINST_AWS, reason="the fuzz test runs against the emulator only")

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
SEED = 15
# The operations the emulator answers: moto's ECS operations (moto/ecs/responses.py) and those
# fargate-local answers itself (the same ones, and ExecuteCommand). Listed, not discovered: a
# contract test reads no emulator internals.
OPERATIONS = (
    "CreateCapacityProvider",
    "CreateCluster",
    "ListClusters",
    "UpdateCluster",
    "PutClusterCapacityProviders",
    "DeleteCapacityProvider",
    "UpdateCapacityProvider",
    "DescribeCapacityProviders",
    "DescribeClusters",
    "DeleteCluster",
    "RegisterTaskDefinition",
    "ListTaskDefinitions",
    "DescribeTaskDefinition",
    "DeregisterTaskDefinition",
    "RunTask",
    "DescribeTasks",
    "StartTask",
    "ListTasks",
    "StopTask",
    "CreateService",
    "ListServices",
    "DescribeServices",
    "UpdateService",
    "DeleteService",
    "RegisterContainerInstance",
    "DeregisterContainerInstance",
    "ListContainerInstances",
    "DescribeContainerInstances",
    "UpdateContainerInstancesState",
    "PutAttributes",
    "ListAttributes",
    "DeleteAttributes",
    "DiscoverPollEndpoint",
    "ListTaskDefinitionFamilies",
    "ListTagsForResource",
    "TagResource",
    "UntagResource",
    "CreateTaskSet",
    "DescribeTaskSets",
    "DeleteTaskSet",
    "UpdateTaskSet",
    "UpdateServicePrimaryTaskSet",
    "PutAccountSetting",
    "ListAccountSettings",
    "DeleteAccountSetting",
    "DeleteTaskDefinitions",
    "ExecuteCommand",
)
COMMON_ERRORS = {
    "SerializationException",
    "ValidationException",
    "InvalidParameterException",
    "ClientException",
    "ClusterNotFoundException",
    "ServiceNotFoundException",
    "ServiceNotActiveException",
    "AccessDeniedException",
    "UnsupportedFeatureException",
    "ResourceNotFoundException",
}
MIN_CASES = 300
CASES_PER_OPERATION = 9  # sampled from every fault the model allows; body-level cases come on top
DEPTH = 3  # how deep into nested structures faults go


@dataclass(frozen=True)
class Case:
    operation: str
    description: str
    body: bytes
    must_refuse: bool = True  # False: any answer but a 5xx (an empty body where nothing is required)


# ------------------------------------------------------------------ generation from botocore's model


def _skeleton(shape, depth: int = 0) -> Any:
    """A value of the right type: required members filled, the rest left out."""
    kind = shape.type_name
    if kind == "structure":
        return {name: _skeleton(shape.members[name], depth + 1) for name in shape.required_members} if depth < 6 else {}
    if kind == "list":
        return [_skeleton(shape.member, depth + 1)] if depth < 6 else []
    if kind == "map":
        return {}
    if kind == "string":
        return shape.enum[0] if shape.enum else "fuzz"
    if kind in ("integer", "long"):
        return int(shape.metadata.get("min", 1))
    if kind in ("double", "float"):
        return 1.0
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return 0
    return "fuzz"


def _faults(shape, rng: random.Random) -> list[tuple[str, Any]]:
    """Malformed values for a member of this shape: (what, value)."""
    kind = shape.type_name
    faults: list[tuple[str, Any]] = []
    if kind == "string":
        faults += [
            ("number for string", rng.randint(1, 10**6)),
            ("boolean for string", True),
            ("list for string", ["fuzz"]),
            ("object for string", {"fuzz": 1}),
        ]
        if shape.enum:
            faults.append(("unknown enum value", f"NOT_AN_ECS_VALUE_{rng.randint(0, 999)}"))
        if "max" in shape.metadata:
            faults.append(
                ("string over its maximum length", "x" * (int(shape.metadata["max"]) + 1 + rng.randint(0, 10**5)))
            )
    elif kind in ("integer", "long"):
        faults += [
            ("numeric string for integer", str(rng.randint(1, 100))),
            ("boolean for integer", False),
            ("list for integer", [1]),
            ("object for integer", {"n": 1}),
            ("fraction for integer", 1.5),
            (
                "integer beyond 64 bits" if kind == "long" else "integer beyond 32 bits",
                2**63 + rng.randint(0, 99) if kind == "long" else 2**31 + rng.randint(0, 99),
            ),
        ]
        if "min" in shape.metadata:
            faults.append(("integer below its minimum", int(shape.metadata["min"]) - 1 - rng.randint(0, 9)))
        if "max" in shape.metadata:
            faults.append(("integer above its maximum", int(shape.metadata["max"]) + 1 + rng.randint(0, 9)))
    elif kind == "boolean":
        faults += [
            ("string for boolean", "yes"),
            ("number for boolean", 1),
            ("list for boolean", [True]),
            ("object for boolean", {"b": True}),
        ]
    elif kind in ("double", "float"):
        faults += [("string for number", "1.5"), ("boolean for number", True), ("list for number", [1.5])]
    elif kind == "list":
        faults += [
            ("string for list", "fuzz"),
            ("object for list", {"fuzz": ["x"]}),
            ("number for list", 7),
            ("null inside a list", [None]),
        ]
        member_faults = [
            f for f in _faults(shape.member, rng) if f[0].endswith(("for string", "for structure", "for integer"))
        ]
        faults += [(f"list member: {what}", [value]) for what, value in member_faults[:2]]
        if "max" in shape.metadata:
            faults.append(
                ("list over its maximum length", [_skeleton(shape.member)] * (int(shape.metadata["max"]) + 1))
            )
    elif kind == "structure":
        faults += [("string for structure", "fuzz"), ("list for structure", [{}]), ("number for structure", 3)]
    elif kind == "map":
        faults += [("list for map", [["k", "v"]]), ("string for map", "k=v")]
        if shape.value.type_name == "string":
            faults.append(("number as a map value", {"k": 5}))
    return faults


def _targets(shape, path: tuple, depth: int = 0):
    """(path, member shape, required) for every member reachable within DEPTH; a path step is a
    member name or 0 (the first item of a list)."""
    for name, member in shape.members.items():
        here = path + (name,)
        yield here, member, name in shape.required_members
        if depth + 1 >= DEPTH:
            continue
        inner = member
        inner_path = here
        while inner.type_name == "list":
            inner, inner_path = inner.member, inner_path + (0,)
        if inner.type_name == "structure" and inner.members:
            yield from _targets(inner, inner_path, depth + 1)


def _with(shape, path: tuple, value: Any, *, remove: bool = False) -> dict[str, Any]:
    """A skeleton body of ``shape`` with the member at ``path`` set to ``value`` (or removed)."""
    body = _skeleton(shape)
    node, node_shape = body, shape
    for index, step in enumerate(path):
        last = index == len(path) - 1
        if isinstance(step, int):  # into the list's first item
            node_shape = node_shape.member
            if last:
                node[0] = value
                break
            if not node:
                node.append(_skeleton(node_shape))
            node = node[0]
            continue
        member = node_shape.members[step]
        if last:
            if remove:
                node.pop(step, None)
            else:
                node[step] = value
            break
        if step not in node or not isinstance(node[step], (dict, list)):
            node[step] = _skeleton(member)
            if member.type_name == "list" and not node[step]:
                node[step].append(_skeleton(member.member))
        node, node_shape = node[step], member
    return body


def _dotted(path: tuple) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")


def generate_cases(seed: int = SEED) -> list[Case]:
    model = botocore.session.get_session().get_service_model("ecs")
    rng = random.Random(seed)
    cases: list[Case] = []
    for operation in OPERATIONS:
        shape = model.operation_model(operation).input_shape
        candidates: list[Case] = []
        for path, member, required in _targets(shape, ()):
            name = _dotted(path)
            for what, value in _faults(member, rng):
                candidates.append(Case(operation, f"{name}: {what}", json.dumps(_with(shape, path, value)).encode()))
            if required:
                candidates.append(
                    Case(
                        operation,
                        f"{name}: required member missing",
                        json.dumps(_with(shape, path, None, remove=True)).encode(),
                    )
                )
                candidates.append(
                    Case(operation, f"{name}: required member null", json.dumps(_with(shape, path, None)).encode())
                )
            if path == ("nextToken",):
                candidates.append(
                    Case(
                        operation,
                        "nextToken: garbage",
                        json.dumps(_with(shape, path, "garbage!" + "x" * rng.randint(0, 40))).encode(),
                    )
                )
        # A garbage token and missing members first, then a seeded sample of the rest.
        first = [c for c in candidates if "garbage" in c.description] + [
            c for c in candidates if "required" in c.description
        ]
        rest = [c for c in candidates if c not in first]
        cases += first[:3] + rng.sample(rest, min(len(rest), CASES_PER_OPERATION))
        cases += [
            Case(operation, "body: not JSON", b"this is not json"),
            Case(operation, "body: truncated JSON", b'{"cluster": '),
            Case(operation, "body: a JSON array", b"[]"),
            Case(operation, "body: a JSON string", b'"fuzz"'),
            Case(operation, "body: invalid UTF-8", b'{"cluster": "\xff\xfe"}'),
            Case(operation, "body: JSON nested deeper than any parser goes", b"[" * 100_000),
            Case(operation, "body: empty", b"", must_refuse=bool(shape.required_members)),
        ]
    return cases


# ------------------------------------------------------------------ sending


def _send(session: requests.Session, endpoint: str, case: Case) -> requests.Response:
    request = AWSRequest(
        method="POST",
        url=f"{endpoint}/",
        data=case.body,
        headers={
            "X-Amz-Target": TARGET_PREFIX + case.operation,
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    SigV4Auth(Credentials("fuzz", "fuzz"), "ecs", "us-east-1").add_auth(request)
    return session.post(request.url, data=case.body, headers=dict(request.headers), timeout=30)


def _problem(model, case: Case, response: requests.Response) -> str | None:
    """Why this answer is not what ECS gives for the case, or None."""
    if response.status_code >= 500:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    if not case.must_refuse and response.status_code == 200:
        return None
    if not 400 <= response.status_code < 500:
        return f"HTTP {response.status_code} for a request ECS refuses: {response.text[:200]}"
    try:
        error = response.json()
    except ValueError:
        return f"HTTP {response.status_code} with a body that is not JSON: {response.text[:200]}"
    code, message = str(error.get("__type", "")).rsplit("#", 1)[-1], error.get("message")
    allowed = COMMON_ERRORS | {e.name for e in model.operation_model(case.operation).error_shapes}
    if code not in allowed:
        return f"error code {code!r} is not one ECS documents for {case.operation}: {error}"
    if not isinstance(message, str) or not message:
        return f"no message: {error}"
    return None


def test_generation_is_deterministic_and_covers_every_operation():
    cases = generate_cases()
    assert [c.body for c in cases] == [c.body for c in generate_cases()]
    assert {c.operation for c in cases} == set(OPERATIONS)
    assert len(cases) >= MIN_CASES


def test_malformed_requests_get_ecs_errors_never_500(emulator):
    model = botocore.session.get_session().get_service_model("ecs")
    cases = generate_cases()
    problems, codes = [], Counter()
    with requests.Session() as session:
        for case in cases:
            response = _send(session, emulator.endpoint, case)
            problem = _problem(model, case, response)
            if problem:
                problems.append(f"{case.operation} ({case.description}): {problem}")
            elif response.status_code != 200:
                codes[response.json().get("__type")] += 1
    # An empty CreateCluster is a good request (ECS creates "default"); nothing else may be left.
    ecs = boto3.client("ecs", endpoint_url=emulator.endpoint, region_name="us-east-1")
    for arn in ecs.list_clusters()["clusterArns"]:
        ecs.delete_cluster(cluster=arn)
    print(f"\n{len(cases)} malformed requests over {len(OPERATIONS)} operations; answers: {dict(codes)}")
    assert len(cases) >= MIN_CASES
    assert not problems, f"{len(problems)} of {len(cases)} answers are not ECS's:\n" + "\n".join(problems)
