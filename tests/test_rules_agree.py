"""Cross-checks that cannot drift: the validator, the emulator and preflight judge generated input alike.

- Registration: for generated Fargate task definitions (sizes, network modes, port mappings with hostPort 0,
  ipcMode, pidMode, ephemeralStorage, essential flags, duplicate names, secrets and awslogs with and without
  executionRoleArn, private ECR images, 0-12 containers, family names) the validator accepts exactly what the
  emulator registers; when both refuse, the emulator's message (ECS's words) is one the validator reports.
- Starting a task: the execution role's permissions preflight requires (task_requirements.TaskNeeds) are the
  ones the emulator's task start needs: a role missing any of them does not start, with all of them it does;
  for generated execution-role policies (exact actions, wildcards, Deny statements, resources) preflight
  passes exactly when the emulator starts the task.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fargate_rules.task_definition_spec import TaskDefinitionError, validate_task_definition
from fargate_rules.task_requirements import EXECUTION_ROLE_POLICY_ACTIONS, role_arn, task_needs
from tests.emulator.helpers import ECS_TASKS_TRUST, EXECUTION_ROLE, FAST, MANIFEST, client, network

ACCOUNT = "123456789012"
ECR_IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app:1.0"
SSM_SECRET = {"name": "DB_PASSWORD", "valueFrom": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/agree/db"}
AWSLOGS = {
    "logDriver": "awslogs",
    "options": {"awslogs-group": "/agree", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"},
}
EXAMPLES = {"task": 1350, "containers": 650}  # ≥ 2,000 generated task definitions in all
CASES: dict[str, int] = {}

# --------------------------------------------------------------------------- generated task definitions


def _pick(common: list[Any], rare: list[Any], percent: int = 8) -> st.SearchStrategy[Any]:
    """One of ``common``, or one of ``rare`` about ``percent`` times in a hundred (invalid values are rare,
    so that many generated task definitions register and many do not)."""
    return st.integers(0, 99).flatmap(lambda n: st.sampled_from(rare if n >= 100 - percent else common))


_sizes = _pick(
    [("256", "512"), ("512", "1024"), ("1024", "2048"), ("4096", "8192")],
    [("256", "4096"), ("300", "512"), (None, "512"), ("256", None), (None, None)],
)
_port_mapping = _pick(
    [{"containerPort": 80}, {"containerPort": 80, "hostPort": 80}, {"containerPort": 443, "protocol": "tcp"}],
    [{"containerPort": 80, "hostPort": 0}, {"containerPort": 8080, "hostPort": 80}],
    percent=6,
)


@st.composite
def containers(draw: st.DrawFn, max_size: int = 12, rare: int = 5) -> list[dict[str, Any]]:
    count = draw(_pick(list(range(1, min(max_size, 10) + 1)), [0, *range(11, max_size + 1)], percent=rare))
    result = []
    for index in range(count):
        container: dict[str, Any] = {
            "name": draw(_pick([f"c{index}"], ["app", "c0"], percent=rare)),  # a duplicate name sometimes
            "image": draw(_pick(["busybox:1.36", "public.ecr.aws/nginx/nginx:1.27"], [ECR_IMAGE], percent=15)),
        }
        essential = draw(_pick([None, True, False], [False], percent=rare))
        if essential is not None:
            container["essential"] = essential
        if draw(st.booleans()):
            container["portMappings"] = draw(st.lists(_port_mapping, max_size=2))
        if draw(st.integers(0, 5)) == 0:
            container["secrets"] = [SSM_SECRET]
        if draw(st.integers(0, 3)) == 0:
            container["logConfiguration"] = copy.deepcopy(AWSLOGS)
        if draw(st.integers(0, 199)) >= 200 - rare:
            container["hostname"] = "worker"
        if draw(st.integers(0, 199)) >= 200 - rare:
            container["privileged"] = True
        result.append(container)
    return result


@st.composite
def task_definitions(draw: st.DrawFn, max_containers: int = 12) -> dict[str, Any]:
    cpu, memory = draw(_sizes)
    spec: dict[str, Any] = {
        "family": draw(_pick(["agree", "agree_2", "agree-3"], ["bad family!", "f" * 256], percent=4)),
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": draw(_pick(["awsvpc"], ["bridge", "host"], percent=5)),
        "containerDefinitions": draw(containers(max_containers, rare=3)),
    }
    if cpu is not None:
        spec["cpu"] = cpu
    if memory is not None:
        spec["memory"] = memory
    if draw(st.integers(0, 9)) < 8:
        spec["executionRoleArn"] = EXECUTION_ROLE
    ipc = draw(_pick([None], ["task", "host", "none"], percent=5))
    if ipc:
        spec["ipcMode"] = ipc
    pid = draw(_pick([None, "task"], ["host"], percent=5))
    if pid:
        spec["pidMode"] = pid
    storage = draw(_pick([None, None, 21, 100, 200], [20, 201], percent=6))
    if storage is not None:
        spec["ephemeralStorage"] = {"sizeInGiB": storage}
    return spec


def _validator(spec: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        validate_task_definition(copy.deepcopy(spec))
    except TaskDefinitionError as err:
        return err.problems
    return []


def _emulator(ecs, spec: dict[str, Any]) -> str | None:
    """None when the emulator registered ``spec`` (deregistered at once), else its error message."""
    try:
        arn = ecs.register_task_definition(**copy.deepcopy(spec))["taskDefinition"]["taskDefinitionArn"]
    except ClientError as err:
        assert err.response["Error"]["Code"] in ("ClientException", "InvalidParameterException"), err.response
        return str(err.response["Error"]["Message"])
    ecs.deregister_task_definition(taskDefinition=arn)
    return None


def _agree(ecs, spec: dict[str, Any], kind: str) -> None:
    problems, refused = _validator(spec), _emulator(ecs, spec)
    outcome = f"{kind}: {'registered' if refused is None else 'refused'}"
    CASES[outcome] = CASES.get(outcome, 0) + 1
    assert (not problems) == (refused is None), (
        f"validator {'accepts' if not problems else 'refuses'}, emulator {refused or 'registers'}: "
        f"{json.dumps(spec)[:600]}\n{problems}"
    )
    if refused is not None:
        fields = [path for path, message in problems if refused in message]
        assert fields, f"the emulator's {refused!r} is none of the validator's messages: {problems}"


_SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings(_SETTINGS, max_examples=EXAMPLES["task"])
@given(spec=task_definitions(max_containers=3))
def test_validator_accepts_what_the_emulator_registers(emulator, spec):
    _agree(_ecs(emulator), spec, "task")


@settings(_SETTINGS, max_examples=EXAMPLES["containers"])
@given(spec=containers(12).map(lambda c: {"family": "agree", "cpu": "256", "memory": "512", "containerDefinitions": c}))
def test_validator_and_emulator_agree_on_containers(emulator, spec):
    spec = {"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", **spec}
    if any(
        c.get("secrets") or c.get("logConfiguration") or c["image"] == ECR_IMAGE for c in spec["containerDefinitions"]
    ):
        spec["executionRoleArn"] = EXECUTION_ROLE
    _agree(_ecs(emulator), spec, "containers")


_CLIENTS: dict[str, Any] = {}


def _ecs(emulator):
    if emulator.endpoint not in _CLIENTS:
        _CLIENTS[emulator.endpoint] = client(emulator)
    return _CLIENTS[emulator.endpoint]


def test_enough_cases_were_generated():
    """Runs after the two above (file order): together they judged at least 2,000 task definitions, both
    outcomes many times."""
    if len(CASES) < 4:
        pytest.skip("run with the generated tests above")
    print(f"generated task definitions: {CASES}")
    assert sum(CASES.values()) >= 2000, CASES
    assert min(CASES.values()) >= 100, CASES  # both outcomes, in both tests, often enough to mean something


# --------------------------------------------------------------------------- starting a task: preflight ⇔ emulator


def _start(emulator, ecs, actions: tuple[str, ...]) -> str | None:
    """Run a task (private ECR image, awslogs) whose execution role allows ``actions``: None when it ran, else
    its stoppedReason."""
    iam = client(emulator, "iam")
    role = iam.create_role(RoleName="agree", AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST))["Role"]["Arn"]
    try:
        if actions:
            policy = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
            }
            iam.put_role_policy(RoleName="agree", PolicyName="p", PolicyDocument=json.dumps(policy))
        spec = {
            "family": "agree-start",
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "512",
            "executionRoleArn": role,
            "containerDefinitions": [{"name": "app", "image": ECR_IMAGE, "logConfiguration": AWSLOGS}],
        }
        arn = ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"]
        try:
            task = ecs.run_task(
                cluster="c", taskDefinition=arn, launchType="FARGATE", networkConfiguration=network(emulator)
            )["tasks"][0]
            ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[task["taskArn"]], WaiterConfig=FAST)
            stopped = ecs.describe_tasks(cluster="c", tasks=[task["taskArn"]])["tasks"][0]
        finally:
            ecs.deregister_task_definition(taskDefinition=arn)
        return None if stopped.get("stopCode") != "TaskFailedToStart" else stopped["stoppedReason"]
    finally:
        if actions:
            iam.delete_role_policy(RoleName="agree", PolicyName="p")
        iam.delete_role(RoleName="agree")


@pytest.fixture
def ecr_and_logs(emulator):
    ecr, logs = client(emulator, "ecr"), client(emulator, "logs")
    ecr.create_repository(repositoryName="app")
    ecr.put_image(repositoryName="app", imageTag="1.0", imageManifest=MANIFEST)
    logs.create_log_group(logGroupName="/agree")
    yield
    ecr.delete_repository(repositoryName="app", force=True)
    logs.delete_log_group(logGroupName="/agree")


def test_preflight_and_the_emulator_need_the_same_execution_role_actions(emulator, ecs, ecr_and_logs):
    spec = {
        "executionRoleArn": EXECUTION_ROLE,
        "containerDefinitions": [{"name": "app", "image": ECR_IMAGE, "logConfiguration": AWSLOGS}],
    }
    needed = {action for action, _, _ in task_needs(spec).execution_actions("aws", "us-east-1", ACCOUNT)}
    assert needed == set(EXECUTION_ROLE_POLICY_ACTIONS)  # what preflight requires of this task's role
    started = time.monotonic()
    assert _start(emulator, ecs, EXECUTION_ROLE_POLICY_ACTIONS) is None
    for missing in EXECUTION_ROLE_POLICY_ACTIONS:  # each one preflight calls a problem stops the task
        reason = _start(emulator, ecs, tuple(a for a in EXECUTION_ROLE_POLICY_ACTIONS if a != missing))
        assert reason is not None and missing in reason and "AccessDeniedException" in reason, (missing, reason)
    assert time.monotonic() - started < 60


# --------------------------------------------------------------------------- preflight passes <=> the task starts

_ACTION_PATTERNS = [
    *EXECUTION_ROLE_POLICY_ACTIONS,
    *EXECUTION_ROLE_POLICY_ACTIONS,  # (the exact actions twice as often as the wildcards)
    "ecr:*",
    "logs:*",
    "ecr:Batch*",
    "ecr:Get*",
    "logs:Create*",
    "logs:Put*",
    "*",
    "s3:GetObject",
]
_RESOURCES = [
    "*",
    "*",
    "*",
    f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/agree:*",
    f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/app",
    f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/other",
]
_statements = st.fixed_dictionaries(
    {
        "Effect": _pick(["Allow"], ["Deny"], percent=15),
        "Action": st.lists(st.sampled_from(_ACTION_PATTERNS), min_size=1, max_size=6, unique=True),
        "Resource": st.sampled_from(_RESOURCES),
    }
)


@st.composite
def _policies(draw: st.DrawFn) -> list[dict[str, Any]]:
    """The managed policy's actions but a few (often none), then wildcard, Deny and narrower statements."""
    missing = draw(st.lists(st.sampled_from(EXECUTION_ROLE_POLICY_ACTIONS), max_size=2, unique=True))
    allowed = [a for a in EXECUTION_ROLE_POLICY_ACTIONS if a not in missing]
    base = [{"Effect": "Allow", "Action": allowed, "Resource": "*"}] if allowed else []
    return base + draw(st.lists(_statements, max_size=2))


class _Hook:
    """What run_preflight uses of a FargateHook, on the emulator's endpoint."""

    region_name = conn_region_name = "us-east-1"
    conn_partition = "aws"

    def __init__(self, emulator):
        self.emulator, self.clients = emulator, {}

    def client(self, service: str, region: str | None = None):
        key = (service, region or self.region_name)
        if key not in self.clients:
            self.clients[key] = client(self.emulator, service, region=key[1])
        return self.clients[key]

    def role_arn(self, reference: str) -> str:
        return role_arn(reference, account=ACCOUNT)


PREFLIGHT_EXAMPLES = 30
PREFLIGHT_CASES: dict[str, int] = {}


@settings(_SETTINGS, max_examples=PREFLIGHT_EXAMPLES)
@given(statements=_policies())
def test_preflight_passes_exactly_when_the_emulator_starts_the_task(emulator, ecs, ecr_and_logs, statements):
    from fargate_provider.preflight import run_preflight

    iam = client(emulator, "iam")
    role = iam.create_role(RoleName="agree", AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST))["Role"]["Arn"]
    try:
        if statements:
            policy = {"Version": "2012-10-17", "Statement": statements}
            iam.put_role_policy(RoleName="agree", PolicyName="p", PolicyDocument=json.dumps(policy))
        spec = {
            "family": "agree-preflight",
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "512",
            "executionRoleArn": role,
            "containerDefinitions": [{"name": "app", "image": ECR_IMAGE, "logConfiguration": AWSLOGS}],
        }
        report = run_preflight(_Hook(emulator), task_definition=spec)
        reason = _run(emulator, ecs, spec)
        assert report.ok == (reason is None), f"{statements}\npreflight: {report.text()}\nemulator: {reason}"
        outcome = "started" if reason is None else "failed to start"
        PREFLIGHT_CASES[outcome] = PREFLIGHT_CASES.get(outcome, 0) + 1
    finally:
        if statements:
            iam.delete_role_policy(RoleName="agree", PolicyName="p")
        iam.delete_role(RoleName="agree")


def test_preflight_cases_had_both_outcomes():
    """Runs after the one above: generated policies both let the task start and stopped it."""
    if not PREFLIGHT_CASES:
        pytest.skip("run with the generated test above")
    print(f"generated execution-role policies: {PREFLIGHT_CASES}")
    assert min(PREFLIGHT_CASES.get(k, 0) for k in ("started", "failed to start")) >= 5, PREFLIGHT_CASES


def _run(emulator, ecs, spec: dict[str, Any]) -> str | None:
    arn = ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"]
    try:
        task = ecs.run_task(
            cluster="c", taskDefinition=arn, launchType="FARGATE", networkConfiguration=network(emulator)
        )
        arns = [t["taskArn"] for t in task["tasks"]]
        ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=arns, WaiterConfig=FAST)
        stopped = ecs.describe_tasks(cluster="c", tasks=arns)["tasks"][0]
    finally:
        ecs.deregister_task_definition(taskDefinition=arn)
    return stopped["stoppedReason"] if stopped.get("stopCode") == "TaskFailedToStart" else None
