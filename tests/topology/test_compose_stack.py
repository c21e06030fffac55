"""compose_stack.py on its own, without starting anything: how it reads docker-compose.yaml
(interpolation, profiles, environments), what each service would run and where, and in which
order `up` starts and waits for them. Fast tier: every process is a stand-in."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.topology import compose_stack as cs
from tests.topology.compose_stack import ENTRYPOINT_SHIM, ComposeError, ComposeStack

SHIM = str(ENTRYPOINT_SHIM)


# ---------------------------------------------------------------------- interpolation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${SET}", "value"),
        ("$SET/x", "value/x"),
        ("a ${SET} b $SET c", "a value b value c"),
        ("${UNSET}", ""),
        ("$UNSET", ""),
        # :- takes the default when unset or empty, - only when unset
        ("${UNSET:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${SET:-fallback}", "value"),
        ("${UNSET-fallback}", "fallback"),
        ("${EMPTY-fallback}", ""),
        ("${SET-fallback}", "value"),
        ("${UNSET:-http://localhost:8080}", "http://localhost:8080"),
        # :+ gives the alternative when set and not empty, + when set at all
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${UNSET:+alt}", ""),
        ("${SET+alt}", "alt"),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        # ? only checks unset; an empty value passes
        ("${EMPTY?needed}", ""),
        ("${SET:?needed}", "value"),
        # $$ is a literal $, and what follows it is not interpolated
        ("$$", "$"),
        ("cost: $$5", "cost: $5"),
        ('--hostname "$${HOSTNAME}"', '--hostname "${HOSTNAME}"'),
        ("variables=$$(mktemp)", "variables=$(mktemp)"),
        ("no variables here", "no variables here"),
    ],
)
def test_interpolate_as_compose_does(text, expected):
    assert cs.interpolate(text, {"SET": "value", "EMPTY": ""}) == expected


@pytest.mark.parametrize(
    ("text", "variables"),
    [
        ("${SECRET:?run make compose-env}", {}),
        ("${SECRET:?run make compose-env}", {"SECRET": ""}),
        ("${SECRET?run make compose-env}", {}),
    ],
)
def test_a_required_variable_without_a_value_is_an_error_with_its_message(text, variables):
    with pytest.raises(ComposeError, match=r"^required variable SECRET is missing a value: run make compose-env$"):
        cs.interpolate(text, variables)


def test_interpolated_walks_lists_and_mappings_and_leaves_other_values_alone():
    node = {"a": "${X}", "b": ["${X}", 1, None, True, {"c": "$X"}], "d": 2.5, "e": None}
    assert cs.interpolated(node, {"X": "x"}) == {"a": "x", "b": ["x", 1, None, True, {"c": "x"}], "d": 2.5, "e": None}
    assert cs.interpolated("$X", {"X": "x"}) == "x"


# ---------------------------------------------------------------------- environments


def test_a_key_without_a_value_takes_the_variable_or_is_left_out():
    variables = {"FROM_ENV": "given", "OTHER": "x"}
    mapping = {"PLAIN": "1", "FROM_ENV": None, "NOT_IN_ENV": None, "EXPLICIT_EMPTY": ""}
    assert cs.without_unset_values(mapping, variables) == {"PLAIN": "1", "FROM_ENV": "given", "EXPLICIT_EMPTY": ""}
    listed = ["PLAIN=1", "WITH=an=equals", "FROM_ENV", "NOT_IN_ENV"]
    assert cs.without_unset_values(listed, variables) == {"PLAIN": "1", "WITH": "an=equals", "FROM_ENV": "given"}
    assert cs.without_unset_values(None, variables) == {}


def test_environment_of_gives_strings_in_either_form():
    assert cs.environment_of({"environment": {"A": 1, "B": None, "C": "c", "D": True}}) == {
        "A": "1",
        "B": "",
        "C": "c",
        "D": "True",
    }
    assert cs.environment_of({"environment": ["A=1", "B=x=y"]}) == {"A": "1", "B": "x=y"}
    assert cs.environment_of({}) == {}


COMPOSE = """
x-common: &common
  image: app:1
  environment: &common-env
    SECRET: ${SECRET:?run make compose-env}
    URL: ${URL:-http://localhost:8080}
    FROM_ENV:
    NOT_IN_ENV:
    LITERAL: "$${HOSTNAME}"
services:
  db:
    image: postgres:16
    environment:
      - POSTGRES_USER=airflow
      - POSTGRES_PASSWORD=${DB_PASSWORD:-airflow}
  web:
    <<: *common
    command: api-server
  worker:
    <<: *common
    environment:
      <<: *common-env
      EXTRA: "1"
  local-only:
    <<: *common
    profiles: ["local"]
  other-profile:
    image: x
    profiles: ["debug"]
"""


@pytest.fixture
def compose_file(tmp_path):
    path = tmp_path / "docker-compose.yaml"
    path.write_text(COMPOSE)
    env = tmp_path / ".env"
    env.write_text("SECRET=s3cret\nFROM_ENV=given\nDB_PASSWORD=pw\n")
    return path, env


def test_load_compose_merges_interpolates_and_drops_unset_keys(compose_file):
    path, env = compose_file
    services = cs.load_compose(path, env)
    assert list(services) == ["db", "web", "worker"]  # no profile asked: no profiled service
    expected = {
        "SECRET": "s3cret",
        "URL": "http://localhost:8080",
        "FROM_ENV": "given",
        "LITERAL": "${HOSTNAME}",
    }
    assert services["web"]["environment"] == expected
    assert services["web"]["command"] == "api-server" and services["web"]["image"] == "app:1"
    assert services["worker"]["environment"] == {**expected, "EXTRA": "1"}
    assert services["db"]["environment"] == {"POSTGRES_USER": "airflow", "POSTGRES_PASSWORD": "pw"}


def test_load_compose_starts_a_profiles_services_only_when_asked(compose_file):
    path, env = compose_file
    assert "local-only" in cs.load_compose(path, env, profiles=("local",))
    assert "other-profile" not in cs.load_compose(path, env, profiles=("local",))
    assert set(cs.load_compose(path, env, profiles=("local", "debug"))) == {
        "db",
        "web",
        "worker",
        "local-only",
        "other-profile",
    }


def test_load_compose_refuses_a_missing_required_variable(compose_file):
    path, env = compose_file
    env.write_text("FROM_ENV=given\n")
    with pytest.raises(ComposeError, match="required variable SECRET is missing a value: run make compose-env"):
        cs.load_compose(path, env)


# ---------------------------------------------------------------------- host names and ports


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "postgresql+psycopg2://airflow:airflow@postgres/airflow",
            "postgresql+psycopg2://airflow:airflow@127.0.0.1/airflow",
        ),
        ("redis://:@redis:6379/0", "redis://:@127.0.0.1:6379/0"),
        ("http://airflow-apiserver:8080/execution/", "http://127.0.0.1:8080/execution/"),
        ("http://fargate-local:5000", "http://127.0.0.1:5000"),
        ("http://fargate-local", "http://127.0.0.1"),
        ("http://fargate-local-variables:1/", "http://127.0.0.1:1/"),
        ('--endpoint "http://fargate-local:5000" > x', '--endpoint "http://127.0.0.1:5000" > x'),
        ("a http://redis:1 and http://postgres:2", "a http://127.0.0.1:1 and http://127.0.0.1:2"),
        # not a service's host name: left alone
        ("http://postgres.example.com/x", "http://postgres.example.com/x"),
        ("http://mypostgres:5432", "http://mypostgres:5432"),
        ("POSTGRES_USER=postgres", "POSTGRES_USER=postgres"),
        ("http://localhost:8080", "http://localhost:8080"),
    ],
)
def test_service_names_in_urls_become_the_loopback_address(value, expected):
    services = ["postgres", "redis", "airflow-apiserver", "fargate-local", "fargate-local-variables"]
    assert cs.map_host_names(value, services) == expected


def test_a_listening_port_is_not_free():
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not cs.port_is_free(port)
    assert cs.port_is_free(port)


def test_check_ports_names_the_busy_ports_of_the_services_in_the_stack(tmp_path, monkeypatch):
    monkeypatch.setattr(cs, "port_is_free", lambda port: port not in (5432, 8080, 5000))
    stack = ComposeStack({"postgres": {}, "redis": {}, "airflow-apiserver": {}}, tmp_path)
    with pytest.raises(ComposeError) as err:
        stack.check_ports()
    # not fargate-local's 5000: that service is not in this stack
    assert str(err.value) == "ports in use on this host, needed by the stack: postgres:5432, airflow-apiserver:8080"
    ComposeStack({"redis": {}}, tmp_path).check_ports()  # its port is free: no error


# ---------------------------------------------------------------------- the machine's side


def test_postgres_runs_as_the_postgres_user_only_when_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert cs.as_postgres_user(["initdb", "-D", "x"]) == ["runuser", "-u", "postgres", "--", "initdb", "-D", "x"]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cs.as_postgres_user(["initdb", "-D", "x"]) == ["initdb", "-D", "x"]


def test_postgres_bin_is_the_newest_version_installing_it_when_missing(tmp_path, monkeypatch):
    real_path = cs.Path
    installs = []

    def fake_path(*parts):
        return tmp_path / "postgresql" if parts == ("/usr/lib/postgresql",) else real_path(*parts)

    def fake_apt_install(*packages):
        installs.append(packages)
        for version in ("9", "16", "13"):  # by number, not by name: 16 is newer than 9
            (tmp_path / "postgresql" / version / "bin").mkdir(parents=True)
            (tmp_path / "postgresql" / version / "bin" / "postgres").touch()

    monkeypatch.setattr(cs, "Path", fake_path)
    monkeypatch.setattr(cs, "apt_install", fake_apt_install)
    assert cs.postgres_bin() == tmp_path / "postgresql" / "16" / "bin"
    assert installs == [("postgresql",)]
    assert cs.postgres_bin() == tmp_path / "postgresql" / "16" / "bin"
    assert installs == [("postgresql",)]  # there now: not installed again


def test_apt_install_updates_then_installs_without_questions(monkeypatch):
    monkeypatch.delenv("DEBIAN_FRONTEND", raising=False)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda argv, **kwargs: calls.append((argv, kwargs)))
    cs.apt_install("redis-server", "postgresql")
    assert [argv for argv, _ in calls] == [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server", "postgresql"],
    ]
    assert all(kwargs["env"]["DEBIAN_FRONTEND"] == "noninteractive" and kwargs["check"] for _, kwargs in calls)


# ---------------------------------------------------------------------- processes (stand-ins)


class FakePopen:
    """What the stack asks of a subprocess.Popen; nothing runs."""

    count = 0

    def __init__(self, returncode=None, wait_result=0):
        FakePopen.count += 1
        self.pid = 40000 + FakePopen.count
        self.returncode = returncode
        self.wait_result = wait_result
        self.waited: list[float] = []

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        self.waited.append(timeout)
        if isinstance(self.wait_result, BaseException):
            raise self.wait_result
        self.returncode = self.wait_result
        return self.wait_result


def process(name, tmp_path, **popen) -> cs.Process:
    return cs.Process(name, FakePopen(**popen), tmp_path / f"{name}.log", {})


def test_a_process_tail_is_its_last_lines_under_its_name(tmp_path):
    running = process("web", tmp_path)
    assert running.tail() == f"--- web ({tmp_path / 'web.log'}) ---\n"  # no log yet
    running.log_path.write_text("".join(f"line {i}\n" for i in range(1, 51)))
    tail = running.tail(lines=3).splitlines()
    assert tail == [f"--- web ({tmp_path / 'web.log'}) ---", "line 48", "line 49", "line 50"]
    assert len(running.tail().splitlines()) == 41  # 40 lines by default
    assert running.alive() and not process("done", tmp_path, returncode=0).alive()


def test_logs_are_the_tails_of_the_named_processes_or_of_all(tmp_path):
    stack = ComposeStack({"a": {}, "b": {}}, tmp_path)
    for name in ("a", "b"):
        stack.processes[name] = process(name, tmp_path)
        stack.processes[name].log_path.write_text(f"{name} says hi\n")
    assert stack.logs("b") == f"--- b ({tmp_path / 'b.log'}) ---\nb says hi"
    assert stack.logs() == stack.logs("a") + "\n" + stack.logs("b")
    assert stack.logs("not-started") == ""


def test_spawn_logs_each_start_to_a_file_of_its_own_in_a_new_session(tmp_path, monkeypatch):
    started = []

    def fake_popen(argv, **kwargs):
        started.append((argv, kwargs))
        return FakePopen()

    monkeypatch.setattr(subprocess, "Popen", fake_popen)
    stack = ComposeStack({"web": {}}, tmp_path)
    first = stack.spawn("web", ["airflow", "api-server"], {"HOME": str(tmp_path / "home"), "A": "1"})
    second = stack.spawn("web", ["airflow", "api-server"], {"A": "1"})
    assert first.log_path == tmp_path / "logs" / "web.1.log" and second.log_path == tmp_path / "logs" / "web.2.log"
    assert stack.processes["web"] is second and "web" in stack.started_at
    argv, kwargs = started[0]
    assert argv == ["airflow", "api-server"] and kwargs["env"] == {"HOME": str(tmp_path / "home"), "A": "1"}
    assert kwargs["cwd"] == str(tmp_path / "home") and kwargs["start_new_session"]
    assert kwargs["stderr"] == subprocess.STDOUT and kwargs["stdin"] == subprocess.DEVNULL
    assert started[1][1]["cwd"] == str(tmp_path)  # no HOME: the work directory


# ---------------------------------------------------------------------- a service's home, environment, command


def test_a_services_home_links_its_volumes_under_opt_airflow(tmp_path):
    services = {
        "worker": {
            "volumes": [
                "./dags:/opt/airflow/dags",
                "./plugins:/opt/airflow/plugins:ro",
                "airflow-logs:/opt/airflow/logs",
                f"{tmp_path / 'abs'}:/opt/airflow/abs",
                "postgres-db-volume:/var/lib/postgresql/data",  # outside /opt/airflow: not linked
            ]
        },
        "scheduler": {"volumes": ["airflow-logs:/opt/airflow/logs"]},
    }
    stack = ComposeStack(services, tmp_path / "work")
    home = stack.home("worker")
    assert home == tmp_path / "work" / "homes" / "worker"
    assert (home / "dags").resolve() == (cs.ROOT / "dags").resolve()
    assert (home / "plugins").resolve() == (cs.ROOT / "plugins").resolve()
    assert (home / "abs").readlink() == tmp_path / "abs"
    shared = tmp_path / "work" / "volumes" / "airflow-logs"
    assert (home / "logs").readlink() == shared and shared.is_dir()
    assert (stack.home("scheduler") / "logs").readlink() == shared  # a named volume is one directory for all
    assert sorted(p.name for p in home.iterdir()) == ["abs", "dags", "logs", "plugins"]
    assert stack.home("worker") == home  # asked again: the same home, the links left as they are


def test_localize_maps_host_names_and_opt_airflow(tmp_path):
    stack = ComposeStack({"postgres": {}, "web": {}}, tmp_path)
    assert (
        stack.localize("web", "sql://u@postgres/db /opt/airflow/config/x.json")
        == f"sql://u@127.0.0.1/db {tmp_path / 'homes' / 'web'}/config/x.json"
    )


def test_a_services_environment_is_its_own_localized_over_the_basics_and_under_the_overrides(tmp_path, monkeypatch):
    services = {
        "postgres": {},
        "web": {
            "command": "api-server",
            "environment": {
                "SQL": "postgresql://a:b@postgres/airflow",
                "FILE": "/opt/airflow/config/passwords.json",
                "LANG": "en_US.UTF-8",
                "OVERRIDDEN": "from compose",
                "NUMBER": 3,
            },
        },
    }
    stack = ComposeStack(services, tmp_path, overrides={"OVERRIDDEN": "by the test"})
    monkeypatch.setattr(stack, "hostname", lambda name: f"host-of-{name}")
    home = str(tmp_path / "homes" / "web")
    env = stack.env("web")
    assert env == {
        "PATH": env["PATH"],
        "LANG": "en_US.UTF-8",  # the service's own wins over the basics
        "HOME": home,
        "AIRFLOW_HOME": home,
        "HOSTNAME": "host-of-web",
        "PYTHONUNBUFFERED": "1",
        "SQL": "postgresql://a:b@127.0.0.1/airflow",
        "FILE": f"{home}/config/passwords.json",
        "OVERRIDDEN": "by the test",
        "NUMBER": "3",
    }
    assert env["PATH"].startswith(f"{cs.BIN}:")


def test_the_hostname_is_celerys_node_name_for_a_worker_and_airflows_otherwise(tmp_path, monkeypatch):
    import airflow.utils.net

    monkeypatch.setattr(socket, "gethostname", lambda: "socket-host")
    monkeypatch.setattr(airflow.utils.net, "get_hostname", lambda: "airflow-host")
    stack = ComposeStack({"worker": {"command": "celery worker"}, "triggerer": {"command": "triggerer"}}, tmp_path)
    assert stack.hostname("worker") == "socket-host"
    assert stack.hostname("triggerer") == "airflow-host"


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        # an Airflow sub-command: what the image's entrypoint runs, `airflow` in front
        ({"command": "api-server"}, ["airflow", "api-server"]),
        ({"command": "celery worker"}, ["airflow", "celery", "worker"]),
        ({"command": ["dag-processor"]}, ["airflow", "dag-processor"]),
        # bash, python and airflow run as they are, through the entrypoint
        ({"command": ["bash", "-c", "echo hi"]}, [SHIM, "bash", "-c", "echo hi"]),
        ({"command": "airflow version"}, [SHIM, "airflow", "version"]),
        ({"command": "python -c 'print(1)'"}, [SHIM, "python", "-c", "print(1)"]),
        ({}, [SHIM]),
        # an entrypoint of the service's own replaces the image's
        (
            {"entrypoint": ["fargate-local"], "command": ["serve", "--port", "5000"]},
            ["fargate-local", "serve", "--port", "5000"],
        ),
        ({"entrypoint": "/bin/bash -e", "command": "-c 'exit 0'"}, ["/bin/bash", "-e", "-c", "exit 0"]),
        ({"entrypoint": "/entrypoint", "command": ["airflow", "version"]}, [SHIM, "airflow", "version"]),
        (
            {"entrypoint": "/bin/bash", "command": ["-c", "ls /opt/airflow/dags\nexec /entrypoint airflow version"]},
            ["/bin/bash", "-c", "ls {home}/dags\nexec " + SHIM + " airflow version"],
        ),
        (
            {"entrypoint": ["fargate-local"], "command": ["airflow-variables", "--endpoint", "http://postgres:5000"]},
            ["fargate-local", "airflow-variables", "--endpoint", "http://127.0.0.1:5000"],
        ),
    ],
)
def test_the_command_a_service_runs(tmp_path, service, expected):
    stack = ComposeStack({"postgres": {}, "svc": service}, tmp_path)
    home = str(tmp_path / "homes" / "svc")
    assert stack.command("svc") == [part.replace("{home}", home) for part in expected]


# ---------------------------------------------------------------------- starting one service


def test_start_runs_postgres_and_redis_from_debian_and_the_rest_as_their_command(tmp_path, monkeypatch):
    stack = ComposeStack(
        {"db": {"image": "postgres:16"}, "cache": {"image": "redis:7.2-bookworm"}, "web": {"command": "api-server"}},
        tmp_path,
    )
    calls = []
    monkeypatch.setattr(stack, "_start_postgres", lambda name: calls.append(("postgres", name)))
    monkeypatch.setattr(stack, "_start_redis", lambda name: calls.append(("redis", name)))
    monkeypatch.setattr(stack, "env", lambda name: {"ENV_OF": name})
    monkeypatch.setattr(stack, "spawn", lambda name, argv, env: calls.append(("spawn", name, argv, env)))
    for name in ("db", "cache", "web"):
        stack.start(name)
    assert calls == [
        ("postgres", "db"),
        ("redis", "cache"),
        ("spawn", "web", ["airflow", "api-server"], {"ENV_OF": "web"}),
    ]


def test_redis_listens_on_loopback_at_its_port_without_persistence(tmp_path, monkeypatch):
    stack = ComposeStack({"redis": {"image": "redis:7.2"}}, tmp_path)
    spawned = []
    monkeypatch.setattr(cs.shutil, "which", lambda command: f"/usr/bin/{command}")
    monkeypatch.setattr(cs, "apt_install", lambda *packages: pytest.fail(f"installed {packages}"))
    monkeypatch.setattr(stack, "spawn", lambda name, argv, env: spawned.append((name, argv, env)))
    stack.start("redis")
    [(name, argv, env)] = spawned
    assert name == "redis" and env["HOME"] == str(tmp_path)
    assert argv == ["redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


def test_postgres_is_initialized_as_the_image_does_then_its_database_created(tmp_path, monkeypatch):
    stack = ComposeStack(
        {"postgres": {"image": "postgres:16", "environment": {"POSTGRES_USER": "airflow", "POSTGRES_PASSWORD": "pw"}}},
        tmp_path,
    )
    commands, spawned = [], []
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(cs, "postgres_bin", lambda: Path("/pg/bin"))
    monkeypatch.setattr(
        subprocess, "run", lambda argv, **kwargs: commands.append(argv) or SimpleNamespace(returncode=0)
    )
    monkeypatch.setattr(stack, "spawn", lambda name, argv, env: spawned.append(argv) or process(name, tmp_path))
    stack.start("postgres")
    initdb, ready, createdb = commands
    data = initdb[initdb.index("-D") + 1]
    assert initdb[0] == "/pg/bin/initdb" and initdb[initdb.index("-U") + 1] == "airflow"
    assert Path(initdb[initdb.index("--pwfile") + 1]).read_text() == "pw"
    assert {"--auth-local=trust", "--auth-host=scram-sha-256"} <= set(initdb)
    [postgres] = spawned
    assert postgres[:3] == ["/pg/bin/postgres", "-D", data] and postgres[postgres.index("-p") + 1] == "5432"
    assert "listen_addresses=127.0.0.1" in postgres
    assert ready == ["/pg/bin/pg_isready", "-h", "127.0.0.1", "-p", "5432"]
    # POSTGRES_DB unset: the database is named after the user, as the image names it
    assert createdb[0] == "/pg/bin/createdb" and createdb[-3:] == ["-U", "airflow", "airflow"]


# ---------------------------------------------------------------------- healthchecks


@pytest.mark.parametrize(
    ("test", "argv"),
    [
        (
            ["CMD", "curl", "--fail", "http://localhost:8080/api/v2/version"],
            ["curl", "--fail", "http://localhost:8080/api/v2/version"],
        ),
        (
            ["CMD-SHELL", 'airflow jobs check --hostname "${HOSTNAME}"'],
            ["sh", "-c", 'airflow jobs check --hostname "${HOSTNAME}"'],
        ),
        ("redis-cli ping", ["sh", "-c", "redis-cli ping"]),
    ],
)
def test_a_healthcheck_runs_its_test_with_the_services_environment(tmp_path, monkeypatch, test, argv):
    stack = ComposeStack({"svc": {"healthcheck": {"test": test}}}, tmp_path)
    monkeypatch.setattr(stack, "env", lambda name: {"HOME": str(tmp_path), "HOSTNAME": "h"})
    ran = []
    returncode = 0

    def fake_run(command, **kwargs):
        ran.append((command, kwargs))
        return SimpleNamespace(returncode=returncode)

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert stack.healthcheck("svc") is True
    returncode = 1
    assert stack.healthcheck("svc") is False
    command, kwargs = ran[0]
    assert command == argv and kwargs["env"] == {"HOME": str(tmp_path), "HOSTNAME": "h"}
    assert kwargs["cwd"] == str(tmp_path)


def test_postgres_healthcheck_asks_over_loopback_and_a_hung_check_is_unhealthy(tmp_path, monkeypatch):
    stack = ComposeStack({"db": {"image": "postgres:16", "healthcheck": {"test": ["CMD", "pg_isready"]}}}, tmp_path)
    monkeypatch.setattr(stack, "env", lambda name: {"HOME": str(tmp_path)})
    seen = []

    def hung(command, **kwargs):
        seen.append(kwargs["env"])
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", hung)
    assert stack.healthcheck("db") is False
    assert seen == [{"HOME": str(tmp_path), "PGHOST": "127.0.0.1"}]


def test_without_a_healthcheck_a_service_is_healthy_while_it_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("no healthcheck command to run"))
    stack = ComposeStack({"svc": {}, "other": {"healthcheck": {"test": []}}}, tmp_path)
    stack.processes["svc"] = process("svc", tmp_path)
    stack.processes["other"] = process("other", tmp_path, returncode=1)
    assert stack.healthcheck("svc") is True
    assert stack.healthcheck("other") is False


def test_wait_healthy_marks_the_service_healthy_or_fails_with_its_logs(tmp_path, monkeypatch):
    stack = ComposeStack({"web": {}, "dead": {}}, tmp_path)
    stack.processes["web"] = process("web", tmp_path)
    stack.processes["dead"] = process("dead", tmp_path, returncode=3)
    stack.processes["dead"].log_path.write_text("Traceback: boom\n")
    monkeypatch.setattr(stack, "healthcheck", lambda name: True)
    stack.wait_healthy("web", timeout=5)
    assert stack.healthy == {"web"}
    with pytest.raises(AssertionError, match=r"(?s)^dead exited with 3\n.*Traceback: boom"):
        stack.wait_healthy("dead", timeout=5)
    assert stack.healthy == {"web"}


def test_wait_completed_needs_exit_code_0(tmp_path):
    stack = ComposeStack({"init": {}, "bad": {}, "slow": {}}, tmp_path)
    stack.processes["init"] = process("init", tmp_path, wait_result=0)
    stack.processes["bad"] = process("bad", tmp_path, wait_result=2)
    stack.processes["slow"] = process("slow", tmp_path, wait_result=subprocess.TimeoutExpired("slow", 7))
    stack.wait_completed("init", timeout=7)
    assert stack.completed == {"init"} and stack.processes["init"].popen.waited == [7]
    with pytest.raises(AssertionError, match=r"^bad exited with 2\n"):
        stack.wait_completed("bad", timeout=7)
    with pytest.raises(AssertionError, match=r"^slow did not finish within 7 s\n"):
        stack.wait_completed("slow", timeout=7)
    assert stack.completed == {"init"}


# ---------------------------------------------------------------------- dependency order


@pytest.mark.parametrize(
    ("service", "conditions"),
    [
        ({}, {}),
        ({"depends_on": ["db", "cache"]}, {"db": "service_started", "cache": "service_started"}),
        (
            {"depends_on": {"db": {"condition": "service_healthy"}, "init": None, "cache": {"restart": True}}},
            {"db": "service_healthy", "init": "service_started", "cache": "service_started"},
        ),
    ],
)
def test_depends_on_in_either_form(service, conditions):
    assert ComposeStack._conditions(service) == conditions


def test_a_dependency_is_met_by_the_state_its_condition_names(tmp_path):
    stack = ComposeStack({}, tmp_path)
    service = {
        "depends_on": {
            "db": {"condition": "service_healthy"},
            "init": {"condition": "service_completed_successfully"},
            "cache": {"condition": "service_started"},
        }
    }
    assert not stack._dependencies_met(service)
    stack.processes["db"] = stack.processes["init"] = stack.processes["cache"] = object()
    assert not stack._dependencies_met(service)  # started, but neither healthy nor completed
    stack.healthy.add("db")
    stack.healthy.add("init")  # healthy is not completed
    assert not stack._dependencies_met(service)
    stack.completed.add("init")
    assert stack._dependencies_met(service)
    del stack.processes["cache"]
    assert not stack._dependencies_met(service)


def test_what_others_need_of_a_service_the_strictest_first(tmp_path):
    services = {
        "init": {},
        "db": {},
        "cache": {},
        "web": {"depends_on": {"init": {"condition": "service_completed_successfully"}, "db": None}},
        "worker": {"depends_on": {"init": {"condition": "service_healthy"}, "cache": {"condition": "service_healthy"}}},
    }
    stack = ComposeStack(services, tmp_path)
    assert stack._needed_as("init") == "service_completed_successfully"
    assert stack._needed_as("cache") == "service_healthy"
    assert stack._needed_as("db") is None  # service_started: nothing to wait for
    assert stack._needed_as("web") is None


@pytest.mark.parametrize(
    ("service", "one_shot"),
    [
        ({}, True),
        ({"restart": "no"}, True),
        ({"restart": "always"}, False),
        ({"healthcheck": {"test": ["CMD", "true"]}}, False),
        ({"healthcheck": {"interval": "10s"}}, True),
    ],
)
def test_a_one_shot_job_has_no_healthcheck_and_no_restart(tmp_path, service, one_shot):
    assert ComposeStack({"svc": service}, tmp_path).one_shot("svc") is one_shot


def recorded_up(stack: ComposeStack, monkeypatch, fail_completion: str | None = None) -> list[tuple[str, str]]:
    """``stack.up()`` with stand-ins that record what it starts and waits for, in order."""
    events: list[tuple[str, str]] = []
    monkeypatch.setattr(stack, "check_ports", lambda: events.append(("check_ports", "")))

    def start(name):
        events.append(("start", name))
        stack.processes[name] = object()

    def wait_completed(name, timeout):
        assert timeout >= 1
        events.append(("completed", name))
        if name == fail_completion:
            raise AssertionError(f"{name} exited with 1")
        stack.completed.add(name)

    def wait_healthy(name, timeout):
        assert timeout >= 1
        events.append(("healthy", name))
        stack.healthy.add(name)

    monkeypatch.setattr(stack, "start", start)
    monkeypatch.setattr(stack, "wait_completed", wait_completed)
    monkeypatch.setattr(stack, "wait_healthy", wait_healthy)
    return events


HEALTHY = {"condition": "service_healthy"}
COMPLETED = {"condition": "service_completed_successfully"}
CHECKED = {"healthcheck": {"test": ["CMD", "true"]}, "restart": "always"}


def test_up_starts_each_service_once_what_it_needs_is_there(tmp_path, monkeypatch):
    services = {
        "web": {**CHECKED, "depends_on": {"db": HEALTHY, "init": COMPLETED}},
        "init": {"depends_on": {"db": HEALTHY}},
        "db": CHECKED,
        "sidecar": {**CHECKED, "depends_on": ["db"]},
        "worker": {**CHECKED, "depends_on": {"web": HEALTHY, "init": COMPLETED}},
    }
    stack = ComposeStack(services, tmp_path)
    events = recorded_up(stack, monkeypatch)
    after = []
    stack.up(timeout=60, after={"init": lambda: after.append(events[-1])})
    assert events == [
        ("check_ports", ""),
        ("start", "db"),
        ("healthy", "db"),  # the others wait for it to be healthy
        ("start", "init"),
        ("start", "sidecar"),  # needs db only started
        ("completed", "init"),  # a one-shot job: it must finish, and succeed
        ("start", "web"),
        ("healthy", "web"),
        ("start", "worker"),
        ("healthy", "worker"),  # the last to start: waited for at once
        ("healthy", "sidecar"),  # nobody waited for it: up waits for it at the end
    ]
    assert after == [("completed", "init")]  # after init completed, before web started


def test_up_stops_at_a_failed_one_shot_job(tmp_path, monkeypatch):
    services = {"init": {}, "web": {**CHECKED, "depends_on": {"init": COMPLETED}}}
    stack = ComposeStack(services, tmp_path)
    events = recorded_up(stack, monkeypatch, fail_completion="init")
    with pytest.raises(AssertionError, match="init exited with 1"):
        stack.up(timeout=60)
    assert ("start", "web") not in events


@pytest.mark.parametrize(
    "services",
    [
        {"a": {"depends_on": ["b"]}, "b": {"depends_on": ["a"]}},  # a cycle
        {"a": {"depends_on": ["missing"]}},  # a dependency that is not in the stack (a profile left out)
    ],
)
def test_up_refuses_what_can_never_start(tmp_path, monkeypatch, services):
    stack = ComposeStack(services, tmp_path)
    events = recorded_up(stack, monkeypatch)
    with pytest.raises(ComposeError, match=r"^no service can start: \{'a': \["):
        stack.up(timeout=60)
    assert events == [("check_ports", "")]


def env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text(
        "AIRFLOW_JWT_SECRET=jwt\nAIRFLOW_API_SECRET_KEY=api\nAIRFLOW_FERNET_KEY=fernet\nAIRFLOW_ADMIN_PASSWORD=pw\n"
    )
    return path


def test_the_repositorys_compose_file_comes_up_in_compose_order(tmp_path, monkeypatch):
    services = cs.load_compose(cs.ROOT / "docker-compose.yaml", env_file(tmp_path), profiles=("local",))
    stack = ComposeStack(services, tmp_path)
    events = recorded_up(stack, monkeypatch)
    stack.up(timeout=60)
    order = [name for event, name in events if event == "start"]
    assert sorted(order) == sorted(services)  # each once
    position = order.index
    for name, service in services.items():
        for dependency in ComposeStack._conditions(service):
            assert position(dependency) < position(name), (dependency, name)
    assert ("completed", "airflow-init") in events and ("completed", "fargate-local-variables") in events
    assert events.index(("healthy", "airflow-apiserver")) < events.index(("start", "airflow-worker"))
    waited = {name for event, name in events if event in ("healthy", "completed")}
    assert waited == set(services)  # up returns with every service healthy or completed


def test_the_repositorys_compose_file_runs_these_commands(tmp_path):
    services = cs.load_compose(cs.ROOT / "docker-compose.yaml", env_file(tmp_path), profiles=("local",))
    stack = ComposeStack(services, tmp_path)
    assert stack.command("airflow-apiserver") == ["airflow", "api-server"]
    assert stack.command("airflow-worker") == ["airflow", "celery", "worker"]
    assert stack.command("fargate-local") == ["fargate-local", "serve", "--host", "0.0.0.0", "--port", "5000"]
    init = stack.command("airflow-init")
    assert init[:2] == ["/bin/bash", "-c"] and init[2].rstrip().endswith(f"exec {SHIM} airflow version")
    assert "/opt/airflow" not in init[2] and str(tmp_path / "homes" / "airflow-init" / "config") in init[2]
    variables = stack.command("fargate-local-variables")[2]
    assert "--endpoint http://127.0.0.1:5000" in variables and "variables=$(mktemp --suffix=.json)" in variables
    worker = services["airflow-worker"]["healthcheck"]["test"][1]
    assert '"celery@${HOSTNAME}"' in worker  # $$ is a literal $: the shell expands it, with HOSTNAME the stack sets


# ---------------------------------------------------------------------- running, killing, stopping


def test_run_is_a_one_off_command_with_the_services_environment(tmp_path, monkeypatch):
    stack = ComposeStack({"web": {}}, tmp_path)
    monkeypatch.setattr(stack, "env", lambda name: {"HOME": f"/homes/{name}", "X": "1"})
    ran = []
    monkeypatch.setattr(subprocess, "run", lambda argv, **kwargs: ran.append((argv, kwargs)) or "done")
    assert stack.run("web", "airflow", "variables", "list", timeout=9) == "done"
    [(argv, kwargs)] = ran
    assert argv == ["airflow", "variables", "list"]
    assert kwargs == {
        "env": {"HOME": "/homes/web", "X": "1"},
        "cwd": "/homes/web",
        "capture_output": True,
        "text": True,
        "timeout": 9,
    }


def test_kill_sends_sigkill_to_the_group_and_it_is_no_longer_healthy(tmp_path, monkeypatch):
    stack = ComposeStack({"worker": {}}, tmp_path)
    stack.processes["worker"] = process("worker", tmp_path)
    stack.healthy.add("worker")
    signals = []
    monkeypatch.setattr(os, "killpg", lambda pid, sig: signals.append((pid, sig)))
    stack.kill("worker")
    assert signals == [(stack.processes["worker"].popen.pid, signal.SIGKILL)]
    assert stack.processes["worker"].popen.waited == [30] and "worker" not in stack.healthy


def test_restart_starts_the_service_anew_and_waits_until_it_is_healthy(tmp_path, monkeypatch):
    stack = ComposeStack({"worker": {}}, tmp_path)
    calls = []
    monkeypatch.setattr(stack, "start", lambda name: calls.append(("start", name)) or "the new process")
    monkeypatch.setattr(stack, "wait_healthy", lambda name, timeout: calls.append(("healthy", name, timeout)))
    assert stack.restart("worker", timeout=11) == "the new process"
    assert calls == [("start", "worker"), ("healthy", "worker", 11)]


def test_down_stops_the_running_in_reverse_order_and_kills_what_does_not_stop(tmp_path, monkeypatch):
    stack = ComposeStack({}, tmp_path)
    for name, popen in (
        ("db", {}),
        ("exited", {"returncode": 0}),
        ("gone", {}),
        ("stuck", {"wait_result": subprocess.TimeoutExpired("stuck", 30)}),
        ("web", {}),
    ):
        stack.processes[name] = process(name, tmp_path, **popen)
    pids = {process.popen.pid: name for name, process in stack.processes.items()}
    signals = []

    def killpg(pid, sig):
        if pids[pid] == "gone":
            raise ProcessLookupError(pid)
        signals.append((pids[pid], sig))
        if sig == signal.SIGKILL:
            stack.processes[pids[pid]].popen.wait_result = -9

    monkeypatch.setattr(os, "killpg", killpg)
    stack.down()
    assert signals == [
        ("web", signal.SIGTERM),
        ("stuck", signal.SIGTERM),
        ("db", signal.SIGTERM),  # "exited" was not signalled, "gone" had already gone
        ("stuck", signal.SIGKILL),
    ]
    assert stack.processes["stuck"].popen.waited == [30, 10]
