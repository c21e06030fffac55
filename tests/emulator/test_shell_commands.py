"""The emulator plays a container's simple shell command: its lines reach CloudWatch Logs as it
prints them, in emulated time, and the container exits with the command's code."""

from __future__ import annotations

import pytest

from fargate_local.shell import play
from tests.emulator.helpers import client, network, register, wait


def _run(ecs, emulator, command, *, entry_point=None, group="/ecs/shell", **container):
    logs = client(emulator, "logs")
    logs.create_log_group(logGroupName=group)
    container = {"command": command, **container}
    if entry_point:
        container["entryPoint"] = entry_point
    register(ecs, logs_group=group, container=container)
    task = ecs.run_task(
        cluster="c", taskDefinition="job", launchType="FARGATE", networkConfiguration=network(emulator)
    )["tasks"][0]
    return logs, task["taskArn"]


def _messages(logs, arn, group="/ecs/shell"):
    stream = f"ecs/app/{arn.rsplit('/', 1)[1]}"
    try:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    except logs.exceptions.ResourceNotFoundException:  # no line written yet: no stream yet
        return []
    return [e["message"] for e in events]


def _stopped(ecs, arn):
    return wait(
        "the task to stop",
        lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
            ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
        ),
    )


def test_the_task_log_shows_what_the_command_prints_and_it_exits_0(emulator, ecs):
    logs, arn = _run(ecs, emulator, ["sh", "-c", "echo processing; echo done"])
    final = _stopped(ecs, arn)
    assert _messages(logs, arn) == ["processing", "done"]
    assert final["containers"][0]["exitCode"] == 0 and final["stopCode"] == "EssentialContainerExited"
    logs.delete_log_group(logGroupName="/ecs/shell")


def test_exit_n_is_the_container_exit_code(emulator, ecs):
    logs, arn = _run(ecs, emulator, ["/bin/sh", "-c", "echo failing; exit 3"])
    final = _stopped(ecs, arn)
    assert final["containers"][0]["exitCode"] == 3
    assert _messages(logs, arn) == ["failing"]
    logs.delete_log_group(logGroupName="/ecs/shell")


def test_lines_reach_cloudwatch_while_the_task_runs(emulator, ecs):
    emulator.set_timing(speed=10)  # 30 emulated seconds: 3 s of RUNNING to see `a` alone
    logs, arn = _run(ecs, emulator, ["sh", "-c", "echo a; sleep 30; echo b"])

    def a_while_running():
        messages = _messages(logs, arn)
        status = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]["lastStatus"]
        return (messages, status) if messages else None

    messages, status = wait("`a` in CloudWatch Logs", a_while_running, timeout=30)
    assert messages == ["a"] and status == "RUNNING"
    final = wait(
        "the task to stop",
        lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
            ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
        ),
        timeout=30,
    )
    assert _messages(logs, arn) == ["a", "b"]
    assert (final["stoppingAt"] - final["startedAt"]).total_seconds() >= 2.9  # 30 emulated seconds at speed 10
    logs.delete_log_group(logGroupName="/ecs/shell")


def test_and_or_lists_and_entry_point_with_command(emulator, ecs):
    logs, arn = _run(ecs, emulator, ["false && echo no || echo yes"], entry_point=["bash", "-c"])
    final = _stopped(ecs, arn)
    assert _messages(logs, arn) == ["yes"] and final["containers"][0]["exitCode"] == 0
    logs.delete_log_group(logGroupName="/ecs/shell")


def test_printf_and_the_containers_environment(emulator, ecs):
    logs, arn = _run(
        ecs,
        emulator,
        ["sh", "-c", 'printf "%s=%d\\n" rows 42; echo "hello $WHO"'],
        environment=[{"name": "WHO", "value": "fargate"}],
    )
    _stopped(ecs, arn)
    assert _messages(logs, arn) == ["rows=42", "hello fargate"]
    logs.delete_log_group(logGroupName="/ecs/shell")


def test_a_behaviour_wins_over_the_command(emulator, ecs):
    emulator.add_behaviour(family="job", exit_code=7, output=["from the behaviour"])
    logs, arn = _run(ecs, emulator, ["sh", "-c", "echo processing; exit 3"])
    final = _stopped(ecs, arn)
    assert final["containers"][0]["exitCode"] == 7
    assert _messages(logs, arn) == ["from the behaviour"]
    logs.delete_log_group(logGroupName="/ecs/shell")


def test_a_command_it_cannot_play_keeps_the_emulators_own_lines(emulator, ecs):
    logs, arn = _run(ecs, emulator, ["sh", "-c", "python etl.py | tee out.log"])
    final = _stopped(ecs, arn)
    messages = _messages(logs, arn)
    assert messages[-1] == "Hello from job:1 on fargate-local" and final["containers"][0]["exitCode"] == 0
    logs.delete_log_group(logGroupName="/ecs/shell")


@pytest.mark.parametrize(
    "argv, lines, code, seconds",
    [
        (["sh", "-c", "echo processing; echo done"], ["processing", "done"], 0, 0),
        (["sh", "-c", "echo a; sleep 30; echo b"], [(0, "a"), (30, "b")], 0, 30),
        (["sh", "-c", "false && echo no || echo yes"], ["yes"], 0, 0),
        (["sh", "-c", "true || echo x && echo y"], ["y"], 0, 0),
        (["sh", "-c", "echo -n 'a  b'; echo \"c\"\n\n# note\nfalse"], ["a  bc"], 1, 0),
        (["sh", "-c", "printf '%s-%s\\n' 1 2 3 4; printf 'no newline'"], ["1-2", "3-4", "no newline"], 0, 0),
        (["sh", "-c", "sleep 1m && exit 300"], [], 44, 60),
        (["echo", "hi", "there"], ["hi there"], 0, 0),
        (["false"], [], 1, 0),
        (["sh", "-c", "echo x; false; exit"], ["x"], 1, 0),
    ],
)
def test_what_it_plays(argv, lines, code, seconds):
    played = play(None, argv)
    assert played is not None
    timed = bool(lines) and isinstance(lines[0], tuple)
    assert lines == (played.lines if timed else [text for _, text in played.lines])
    assert (played.exit_code, played.seconds) == (code, seconds)


@pytest.mark.parametrize(
    "script",
    [
        "echo a | cat",
        "echo a > out",
        "echo $UNSET",
        "echo $(date)",
        "echo `date`",
        "(echo a)",
        "python etl.py",
        "echo a & wait",
        "X=1; echo $X",
        "if true; then echo a; fi",
        "echo *",
        "echo -e 'a\\nb'",
    ],
)
def test_what_it_does_not_play(script):
    assert play(None, ["sh", "-c", script]) is None


def test_no_command_is_the_images_own_and_not_played():
    assert play(None, None) is None and play(["python"], ["etl.py"]) is None
