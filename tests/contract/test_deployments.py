"""Service deployments as ECS plays them: the circuit breaker's threshold, its rollback in ECS's
words, and the service throttle for tasks that keep failing to start. Sources:
- API_DeploymentCircuitBreaker / API_ThresholdConfiguration
  (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ThresholdConfiguration.html):
  ``thresholdConfiguration`` {type, value}; "For COUNT, Amazon ECS uses value directly as the
  threshold"; for BOUNDED_PERCENT and UNBOUNDED_PERCENT it "multiplies value by the latest service
  desired count" (percent: the default is BOUNDED_PERCENT, 50, i.e. the documented
  "0.5 * desired task count", min 3, max 200); UNBOUNDED_PERCENT goes "without applying the
  3-to-200 bounds" (the ThresholdType enum's documentation in the AWS SDK for Python v4).
- Developer guide, "How the Amazon ECS deployment circuit breaker detects failures"
  (deployment-circuit-breaker.html): the rollback goes to "the most recent deployment that is in a
  COMPLETED state ... When the rollback starts, the deployment changes from a COMPLETED to
  IN_PROGRESS" - the same deployment, under its own id.
- ECS's wording, as users quote it:
  failed deployment rolloutStateReason "ECS deployment circuit breaker: tasks failed to start."
  (aws/containers-roadmap#1488); the new PRIMARY's "ECS deployment circuit breaker: rolling back to
  deploymentId ecs-svc/6405940160831029548." and afterwards "ECS deployment
  ecs-svc/6405940160831029548 completed." - the same id (sevenwestmedia-labs/pulumi-components,
  libs/wait-for-ecs-deploy/README.md); service events "(service my-svc) rolling back to deployment
  ecs-svc/9086637243870003494." (aws/copilot-cli, internal/pkg/stream/ecs_test.go) and, in a
  service's event log, "(service devops-g3-inventory) (deployment ecs-svc/1571272475813219068)
  deployment failed: tasks failed to start." / "... rolling back to deployment
  ecs-svc/1675294001379389663." / "(deployment ecs-svc/1675294001379389663) deployment completed."
- Developer guide, "Amazon ECS service throttle logic" (service-throttle-logic.html): tasks that
  "fail to transition from PENDING to RUNNING state and instead move directly to STOPPED" are
  relaunched after delays that grow "up to a maximum of 27 minutes", with the event "(service
  service-name) is unable to consistently start tasks successfully." (as ECS writes it: "... For
  more information, see the Troubleshooting section of the Amazon ECS Developer Guide."); a new
  task definition "immediately returns the service to normal, non-throttled operation"; "Tasks that
  stop after reaching RUNNING state" and tasks whose "container command exits with a non-zero code
  after reaching RUNNING state" do NOT trigger it.

A task that cannot start is an image tag that does not exist (CannotPullContainerError on AWS; on
the emulator a behaviour rule makes that image fail its pull the same way). Against AWS these tests
take minutes (pulls fail after tens of seconds; throttle delays are minutes) and start a few
Fargate tasks that never run or run seconds: well under a cent.
"""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest

from tests.contract.conftest import AGAINST_AWS, CONTRACT_TAG
from tests.helpers.polling import wait_for

FAST = {"Delay": 0.1, "MaxAttempts": 300}
TIMEOUT = 1800 if AGAINST_AWS else 30
IMAGE = "public.ecr.aws/docker/library/busybox:1.36"
THROTTLE_EVENT = "is unable to consistently start tasks successfully."


def _control(request, route: str, payload: dict) -> None:
    """The emulator's control endpoint (emulator mode only)."""
    endpoint = request.getfixturevalue("emulator").endpoint
    call = urllib.request.Request(
        f"{endpoint}/_fargate_local/{route}",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(call, timeout=10).read()


@pytest.fixture
def unpullable_image(request):
    """An image tag that does not exist: its tasks stop with TaskFailedToStart, never RUNNING."""
    image = f"public.ecr.aws/docker/library/busybox:contract-missing-{uuid.uuid4().hex[:8]}"
    if not AGAINST_AWS:
        _control(request, "behaviours", {"image": image, "pull_failure": True})
    return image


@pytest.fixture
def deployments(aws, cluster, task_network):
    """register(family, image, command) and create(name, task_definition, desired, breaker); every
    service is deleted and every task definition deregistered afterwards."""
    ecs = aws("ecs")
    registered: list[str] = []
    services: list[str] = []

    def register(family: str, image: str = IMAGE, command: list[str] | None = None) -> str:
        container = {"name": "app", "image": image, "essential": True, "command": command or ["sleep", "3600"]}
        arn = ecs.register_task_definition(
            family=f"{cluster}-{family}",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[container],
            tags=[CONTRACT_TAG],
        )["taskDefinition"]["taskDefinitionArn"]
        registered.append(arn)
        return arn

    def create(name: str, task_definition: str, desired: int = 1, breaker: dict | None = None) -> dict:
        config = {"deploymentCircuitBreaker": breaker} if breaker else {}
        service = ecs.create_service(
            cluster=cluster,
            serviceName=name,
            taskDefinition=task_definition,
            desiredCount=desired,
            launchType="FARGATE",
            networkConfiguration=task_network,
            deploymentConfiguration=config,
            tags=[CONTRACT_TAG],
        )["service"]
        services.append(name)
        return service

    yield register, create
    for name in services:
        ecs.delete_service(cluster=cluster, service=name, force=True)
    if services:
        ecs.get_waiter("services_inactive").wait(
            cluster=cluster, services=services, WaiterConfig=FAST if not AGAINST_AWS else {}
        )
    for arn in registered:
        ecs.deregister_task_definition(taskDefinition=arn)


def _service(ecs, cluster: str, name: str) -> dict:
    return ecs.describe_services(cluster=cluster, services=[name])["services"][0]


def _messages(service: dict) -> list[str]:
    return [event["message"] for event in service["events"]]


def _task_starts(ecs, cluster: str, name: str) -> list:
    """createdAt of every task the service started (stopped ones too), oldest first."""
    arns = [
        arn
        for status in ("RUNNING", "STOPPED")
        for arn in ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus=status)["taskArns"]
    ]
    tasks = [
        t
        for i in range(0, len(arns), 100)
        for t in ecs.describe_tasks(cluster=cluster, tasks=arns[i : i + 100])["tasks"]
    ]
    return sorted(t["createdAt"] for t in tasks)


@pytest.mark.parametrize(
    ("threshold", "trips_at"),
    [({"type": "COUNT", "value": 2}, 2), ({"type": "UNBOUNDED_PERCENT", "value": 100}, 1)],
    ids=["COUNT 2", "UNBOUNDED_PERCENT 100 of 1"],
)
def test_threshold_configuration_sets_how_many_failures_trip_the_breaker(
    aws, cluster, deployments, unpullable_image, threshold, trips_at
):
    """The default would wait for 3 failed tasks (0.5 x 1, at least 3); the configured threshold
    trips the breaker at ``trips_at``, and DescribeServices returns the configuration."""
    register, create = deployments
    ecs = aws("ecs")
    breaker = {"enable": True, "rollback": False, "thresholdConfiguration": threshold}
    create("svc", register("broken", unpullable_image), breaker=breaker)

    def failed():
        primary = _service(ecs, cluster, "svc")["deployments"][0]
        return primary if primary["rolloutState"] == "FAILED" else None

    primary = wait_for("the circuit breaker to trip", failed, TIMEOUT)
    assert primary["failedTasks"] == trips_at
    assert primary["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    echoed = _service(ecs, cluster, "svc")["deploymentConfiguration"]["deploymentCircuitBreaker"]
    assert echoed["thresholdConfiguration"] == threshold


def test_rollback_returns_to_the_completed_deployment_in_ecs_words(
    request, aws, cluster, deployments, unpullable_image
):
    register, create = deployments
    ecs = aws("ecs")
    good = register("web")
    create("web", good, breaker={"enable": True, "rollback": True})

    def completed():
        primary = _service(ecs, cluster, "web")["deployments"][0]
        return primary if primary["rolloutState"] == "COMPLETED" else None

    completed_id = wait_for("the first rollout to complete", completed, TIMEOUT)["id"]
    if not AGAINST_AWS:
        # ECS takes minutes to call a rollback complete; stretch the emulator's (3 s real) so the
        # rollback's IN_PROGRESS state can be read.
        _control(request, "timing", {"stabilize": 300})
    failing_id = ecs.update_service(cluster=cluster, service="web", taskDefinition=register("web", unpullable_image))[
        "service"
    ]["deployments"][0]["id"]

    def rolling_back():
        service = _service(ecs, cluster, "web")
        return service if service["deployments"][0]["taskDefinition"] == good else None

    service = wait_for("the circuit breaker to roll back", rolling_back, TIMEOUT)
    primary = service["deployments"][0]
    assert (primary["id"], primary["status"], primary["rolloutState"]) == (completed_id, "PRIMARY", "IN_PROGRESS")
    assert (
        primary["rolloutStateReason"] == f"ECS deployment circuit breaker: rolling back to deploymentId {completed_id}."
    )
    # The failed deployment stays listed only while it still has tasks to stop.
    for failed in (d for d in service["deployments"] if d["id"] == failing_id):
        assert (failed["status"], failed["rolloutState"]) == ("ACTIVE", "FAILED")
        assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    messages = _messages(service)
    failed_event = f"(service web) (deployment {failing_id}) deployment failed: tasks failed to start."
    rollback_event = f"(service web) rolling back to deployment {completed_id}."
    assert failed_event in messages and rollback_event in messages
    assert messages.index(rollback_event) < messages.index(failed_event)  # newest first: the rollback follows

    def rolled_back():
        service = _service(ecs, cluster, "web")
        primary = service["deployments"][0]
        return service if len(service["deployments"]) == 1 and primary["rolloutState"] == "COMPLETED" else None

    service = wait_for("the rollback to complete", rolled_back, TIMEOUT)
    assert service["deployments"][0]["id"] == completed_id
    assert service["deployments"][0]["rolloutStateReason"] == f"ECS deployment {completed_id} completed."
    assert f"(service web) (deployment {completed_id}) deployment completed." in _messages(service)


def test_tasks_that_keep_failing_to_start_are_throttled(aws, cluster, deployments, unpullable_image):
    """Without a circuit breaker ECS retries forever, ever more slowly, and says so once; a new task
    definition ends the throttle at once."""
    register, create = deployments
    ecs = aws("ecs")
    create("svc", register("broken", unpullable_image))

    def five_starts_and_the_event():
        starts = _task_starts(ecs, cluster, "svc")
        service = _service(ecs, cluster, "svc")
        return (starts, service) if len(starts) >= 5 and any(THROTTLE_EVENT in m for m in _messages(service)) else None

    starts, service = wait_for("five starts and the throttle event", five_starts_and_the_event, TIMEOUT)
    events = [m for m in _messages(service) if THROTTLE_EVENT in m]
    assert events[0] == (
        "(service svc) is unable to consistently start tasks successfully. For more information, see the "
        "Troubleshooting section of the Amazon ECS Developer Guide."
    )
    if not AGAINST_AWS:
        assert len(events) == 1  # once per episode, not once per retry
    first_gap, last_gap = (starts[1] - starts[0]).total_seconds(), (starts[4] - starts[3]).total_seconds()
    assert last_gap > 2 * first_gap, f"relaunches did not slow down: {starts}"

    deployment = ecs.update_service(cluster=cluster, service="svc", taskDefinition=register("fixed"))["service"][
        "deployments"
    ][0]

    def fixed_started():
        starts = _task_starts(ecs, cluster, "svc")
        return [s for s in starts if s >= deployment["createdAt"]]

    first_fixed = wait_for("the fixed task definition's task", fixed_started, TIMEOUT)[0]
    assert (first_fixed - deployment["createdAt"]).total_seconds() < last_gap, (
        "the new task definition was throttled too"
    )


def test_tasks_that_exit_after_running_are_not_throttled(request, aws, cluster, deployments):
    """A container that exits 1 after RUNNING is replaced, and the throttle does not start."""
    register, create = deployments
    ecs = aws("ecs")
    task_definition = register("crashing", command=["sh", "-c", "sleep 1; exit 1"])
    if not AGAINST_AWS:
        _control(request, "behaviours", {"family": f"{cluster}-crashing", "crash_loop": True})
    create("svc", task_definition)

    def five_stopped():
        stopped = ecs.list_tasks(cluster=cluster, serviceName="svc", desiredStatus="STOPPED")["taskArns"]
        return stopped if len(stopped) >= 5 else None

    stopped = wait_for("five crashed tasks", five_stopped, TIMEOUT)
    tasks = ecs.describe_tasks(cluster=cluster, tasks=stopped)["tasks"]
    assert {t["stopCode"] for t in tasks} == {"EssentialContainerExited"}
    assert not any(THROTTLE_EVENT in m for m in _messages(_service(ecs, cluster, "svc")))
