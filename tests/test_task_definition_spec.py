"""Loading, defaults and comparison of task-definition specs (no AWS here)."""

import json
from pathlib import Path

import pytest

from fargate_rules.task_definition_spec import (
    TaskDefinitionError,
    comparable,
    load_task_definition,
    same_task_definition,
    validate_task_definition,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "sample-fargate.json5"


def minimal(**overrides):
    spec = {
        "family": "web",
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "nginx:1.27"}],
    }
    spec.update(overrides)
    return spec


def test_json5_with_comments_and_trailing_commas(tmp_path):
    path = tmp_path / "td.json5"
    path.write_text(
        """
        // AWS tutorials write it like this
        {
          "family": "tutorial", /* block comment */
          "cpu": "256", "memory": "512",
          "containerDefinitions": [{"name": "a", "image": "busybox",},],
        }
        """
    )
    spec = load_task_definition(str(path), search_paths=[tmp_path])
    assert spec["family"] == "tutorial"
    assert spec["containerDefinitions"] == [{"name": "a", "image": "busybox"}]


def test_json_file_and_text_and_dict_give_the_same_spec(tmp_path):
    spec = minimal()
    path = tmp_path / "td.json"
    path.write_text(json.dumps(spec))
    assert load_task_definition(str(path), search_paths=[tmp_path]) == spec
    assert load_task_definition(json.dumps(spec)) == spec
    assert load_task_definition(spec) == spec and load_task_definition(spec) is not spec


def test_relative_path_is_found_in_search_paths(tmp_path):
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "x.json").write_text(json.dumps(minimal(family="found")))
    assert load_task_definition("defs/x.json", search_paths=[tmp_path])["family"] == "found"


def test_render_is_applied_to_file_text(tmp_path):
    path = tmp_path / "td.json"
    path.write_text(json.dumps(minimal(family="FAMILY")))
    spec = load_task_definition(
        str(path), search_paths=[tmp_path], render=lambda text: text.replace("FAMILY", "rendered")
    )
    assert spec["family"] == "rendered"


def test_the_shipped_sample_validates_with_fargate_defaults():
    request = validate_task_definition(load_task_definition(SAMPLE, allow_any_path=True))
    assert request["family"] == "sample-fargate"
    assert request["networkMode"] == "awsvpc"
    assert request["requiresCompatibilities"] == ["FARGATE"]


def test_defaults_and_canonical_sizes():
    request = validate_task_definition({**minimal(cpu="1 vCPU", memory="2 GB")}, family="other")
    assert request["cpu"] == "1024" and request["memory"] == "2048"
    assert request["family"] == "other"
    assert request["requiresCompatibilities"] == ["FARGATE"] and request["networkMode"] == "awsvpc"


def test_integer_sizes_are_accepted():
    request = validate_task_definition(minimal(cpu=512, memory=1024))
    assert (request["cpu"], request["memory"]) == ("512", "1024")


def test_every_problem_is_reported_at_once():
    with pytest.raises(TaskDefinitionError) as err:
        validate_task_definition(minimal(cpu="300", containerDefinitions=[{"name": "", "image": ""}]))
    paths = [path for path, _ in err.value.problems]
    assert "cpu" in paths and "containerDefinitions[0].name" in paths and "containerDefinitions[0].image" in paths


def test_comparison_ignores_what_ecs_fills_in_and_tags():
    requested = validate_task_definition(
        minimal(
            containerDefinitions=[
                {
                    "name": "app",
                    "image": "nginx:1.27",
                    "portMappings": [{"containerPort": 80}],
                    "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                }
            ],
            tags=[{"key": "x", "value": "1"}],
        )
    )
    # What DescribeTaskDefinition answers: defaults filled, output-only keys, other tags.
    described = {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
        "family": "web",
        "revision": 3,
        "status": "ACTIVE",
        "cpu": "256",
        "memory": "512",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "compatibilities": ["EC2", "FARGATE"],
        "volumes": [],
        "placementConstraints": [],
        "registeredAt": "2026-11-28T00:00:00Z",
        "containerDefinitions": [
            {
                "name": "app",
                "image": "nginx:1.27",
                "cpu": 0,
                "essential": True,
                "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
                "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "mountPoints": [],
                "volumesFrom": [],
            }
        ],
        "tags": [{"key": "airflow-run-id", "value": "another run"}],
    }
    assert same_task_definition(requested, described)


@pytest.mark.parametrize(
    "change",
    [
        {"image": "nginx:1.28"},
        {"command": ["echo", "hi"]},
        {"environment": [{"name": "A", "value": "changed"}]},
        {"essential": False, "name": "app"},
    ],
)
def test_comparison_sees_real_changes(change):
    base = validate_task_definition(
        minimal(
            containerDefinitions=[
                {"name": "app", "image": "nginx:1.27", "environment": [{"name": "A", "value": "1"}]},
                {"name": "side", "image": "x"},
            ]
        )
    )
    changed = json.loads(json.dumps(base))
    changed["containerDefinitions"][0].update(change)
    assert not same_task_definition(changed, base)


def test_comparison_sees_size_changes():
    assert not same_task_definition(
        validate_task_definition(minimal(memory="1024")), validate_task_definition(minimal())
    )
    assert comparable(minimal(cpu="0.25 vCPU")) == comparable(minimal(cpu="256"))


# --------------------------------------------------------------------------- one table: the validator and the emulator


def _problems(spec):
    with pytest.raises(TaskDefinitionError) as err:
        validate_task_definition(spec)
    return err.value.problems


@pytest.mark.parametrize(
    ("change", "path", "ecs_message"),
    [
        (
            {
                "containerDefinitions": [
                    {"name": "app", "image": "nginx", "portMappings": [{"containerPort": 80, "hostPort": 0}]}
                ]
            },
            "containerDefinitions[0].portMappings[0].hostPort",
            "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
        ),
        ({"ipcMode": "task"}, "ipcMode", "Tasks using the Fargate launch type do not support ipcMode."),
        (
            {"ephemeralStorage": {"sizeInGiB": 20}},
            "ephemeralStorage.sizeInGiB",
            "The ephemeral storage size must be between 21 and 200 GiB for tasks using the Fargate launch type.",
        ),
        (
            {"memory": "4096"},
            "memory",
            (
                "No Fargate configuration exists for given values: 256 CPU, 4096 memory. "
                "See the Amazon ECS documentation for the valid values."
            ),
        ),
    ],
    ids=["host-port-zero", "ipc-mode", "ephemeral-storage", "size"],
)
def test_the_validator_refuses_in_the_words_the_emulator_answers(change, path, ecs_message):
    # registration_rules is the one table: the emulator answers ecs_message (tests/emulator/test_registration_rules.py)
    problems = _problems(minimal(**change))
    assert any(where == path and ecs_message in message for where, message in problems), problems


@pytest.mark.parametrize("wording", ["No Fargate configuration exists", "Fargate only supports network mode"])
def test_a_refusal_has_one_wording(wording):
    """Registration and RunTask answer these in ECS's words from one place (registration_rules.py)."""
    from fargate_rules.registration_rules import FARGATE_NETWORK_MODE_MESSAGE, fargate_size_message

    root = Path(__file__).resolve().parent.parent
    sources = [*(root / "rules").rglob("*.py"), *(root / "local").rglob("*.py"), *(root / "provider").rglob("*.py")]
    holders = [p.relative_to(root) for p in sources if wording in p.read_text()]
    assert holders == [Path("rules/fargate_rules/registration_rules.py")]
    assert fargate_size_message("256", "4096").startswith("No Fargate configuration exists for given values: 256 CPU")
    assert FARGATE_NETWORK_MODE_MESSAGE == "Fargate only supports network mode \u2018awsvpc\u2019."


def test_secret_arn_patterns_are_defined_once():
    import re

    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r'r"[^"\n]*:(secretsmanager|ssm):')  # a raw-string regex naming either service
    sources = [*(root / "rules").rglob("*.py"), *(root / "local").rglob("*.py"), *(root / "provider").rglob("*.py")]
    holders = [p.relative_to(root) for p in sources if pattern.search(p.read_text())]
    assert holders == [Path("rules/fargate_rules/arns.py")]
