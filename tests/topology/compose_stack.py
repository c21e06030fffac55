"""docker-compose.yaml run as plain processes: what `docker compose --profile local up` would
start, without a Docker engine (none runs here).

Read from the compose file itself, so a change to it changes what runs here:
- each service's environment (``x-airflow-common`` merged in by YAML), interpolated from a
  ``.env`` as compose does (``${VAR:?error}``, ``${VAR:-default}``, ``$$``; a key without a
  value takes the ``.env`` value or is left out);
- each service's entrypoint and command, its volumes, its ``depends_on`` conditions and its
  healthcheck command, polled (every second, not every ``interval``) until it passes.

What a container would have and a process here gets instead:
- the service names as host names → 127.0.0.1 in URLs (every service keeps the port it uses
  in its own container, so those ports must be free here);
- ``/opt/airflow`` → a home of the service's own (``AIRFLOW_HOME``), where each volume is a
  symlink: ``./dags`` to the repository's, a named volume to one directory all share;
- PostgreSQL and Redis images → Debian's packages (``apt-get install`` when missing);
- the image's ``/entrypoint`` → ``entrypoint`` beside this file (the parts that matter here:
  ``_AIRFLOW_DB_MIGRATE`` and "an Airflow sub-command gets ``airflow`` in front");
- ``HOSTNAME`` → the name the process registers under (the healthchecks ask for it).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

from tests.helpers.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT_SHIM = Path(__file__).resolve().parent / "entrypoint"
BIN = Path(sys.executable).parent
CONTAINER_HOME = "/opt/airflow"
# The ports the services listen on inside their containers; here they share one host.
PORTS = {
    "postgres": 5432,
    "redis": 6379,
    "airflow-apiserver": 8080,
    "airflow-scheduler": 8974,
    "airflow-worker": 8793,
    "airflow-triggerer": 8794,
    "fargate-local": 5000,
}

_VARIABLE_RE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)

# The image's /entrypoint, named as a word of a command or script (``exec /entrypoint airflow version``).
_IMAGE_ENTRYPOINT_RE = re.compile(r"(?<![^\s\"';&|(])/entrypoint(?![^\s\"';&|)])")


class ComposeError(Exception):
    """What `docker compose up` itself would refuse or report."""


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's interpolation (compose-spec 12-interpolation.md) of one string."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = variables.get(name)
        unset, empty = current is None, not current
        if op == ":-":
            return arg if empty else current
        if op == "-":
            return arg if unset else current
        if op in (":?", "?") and (empty if op == ":?" else unset):
            raise ComposeError(f"required variable {name} is missing a value: {arg}")
        if op == ":+":
            return "" if empty else arg
        if op == "+":
            return "" if unset else arg
        return current or ""

    return _VARIABLE_RE.sub(replace, value)


def interpolated(node: Any, variables: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [interpolated(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: interpolated(value, variables) for key, value in node.items()}
    return node


def load_compose(path: Path, env_file: Path, profiles: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """The services `docker compose --profile … up` would start, interpolated from ``env_file``."""
    variables = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    document = yaml.safe_load(path.read_text())
    services = {}
    for name, service in document["services"].items():
        wanted = service.get("profiles")
        if wanted and not set(wanted) & set(profiles):
            continue
        services[name] = interpolated(service, variables)
        if "environment" in service:
            services[name]["environment"] = without_unset_values(services[name]["environment"], variables)
    return services


def without_unset_values(env: dict[str, Any] | list[str] | None, variables: dict[str, str]) -> dict[str, Any]:
    """A key without a value (``KEY:`` or ``- KEY``) takes the variable's value; unset, the key is
    not in the container at all (compose-go: "empty env variable with no value must be unset")."""
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    resolved = {}
    for key, value in (env or {}).items():
        if value is None:
            if key not in variables:
                continue
            value = variables[key]
        resolved[key] = value
    return resolved


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def map_host_names(value: str, services: list[str]) -> str:
    """``scheme://[user@]service[:port]`` → 127.0.0.1, as compose's network DNS would resolve it."""
    names = "|".join(re.escape(name) for name in sorted(services, key=len, reverse=True))
    return re.sub(rf"(://(?:[^@/\s\"']*@)?)(?:{names})(?=[:/\"'\s]|$)", r"\g<1>127.0.0.1", value)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def apt_install(*packages: str) -> None:
    """Debian's packages, as the browser test installs Chromium."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], check=True, env=env, timeout=900
    )


def postgres_bin() -> Path:
    def found() -> list[Path]:
        return sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))

    if not found():
        apt_install("postgresql")
    return found()[-1].parent


def as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path
    env: dict[str, str]

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        return f"--- {self.name} ({self.log_path}) ---\n" + "\n".join(text[-lines:])

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class ComposeStack:
    """The services of docker-compose.yaml as processes, started in ``depends_on`` order."""

    services: dict[str, dict[str, Any]]
    workdir: Path
    overrides: dict[str, str] = field(default_factory=dict)  # settings a test changes on purpose, named in the test
    processes: dict[str, Process] = field(default_factory=dict)
    healthy: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)
    started_at: dict[str, float] = field(default_factory=dict)
    _generation: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ the services' view of the world

    def home(self, name: str) -> Path:
        """The service's /opt/airflow: its own AIRFLOW_HOME, the volumes symlinked into it."""
        home = self.workdir / "homes" / name
        if home.exists():
            return home
        home.mkdir(parents=True)
        for volume in self.services[name].get("volumes") or []:
            source, target = str(volume).split(":")[:2]
            if not target.startswith(CONTAINER_HOME + "/"):
                continue
            if source.startswith((".", "/")):
                real = (ROOT / source).resolve()
            else:  # a named volume: one directory every service shares
                real = self.workdir / "volumes" / source
                real.mkdir(parents=True, exist_ok=True)
            link = home / target[len(CONTAINER_HOME) + 1 :]
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(real, target_is_directory=True)
        return home

    def localize(self, name: str, value: str) -> str:
        return map_host_names(value, list(self.services)).replace(CONTAINER_HOME, str(self.home(name)))

    def env(self, name: str) -> dict[str, str]:
        own = {key: self.localize(name, value) for key, value in environment_of(self.services[name]).items()}
        base = {
            "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LANG": "C.UTF-8",
            "HOME": str(self.home(name)),
            "AIRFLOW_HOME": str(self.home(name)),
            "HOSTNAME": self.hostname(name),
            "PYTHONUNBUFFERED": "1",
        }
        return {**base, **own, **self.overrides}

    def hostname(self, name: str) -> str:
        """What ``$HOSTNAME`` is to the healthchecks: the name the process registers under (in a
        container, its host name; here Celery names its node by the host name, Airflow its jobs by
        ``[core] hostname_callable``)."""
        from airflow.utils.net import get_hostname

        command = self.command(name)
        return socket.gethostname() if command[-2:] == ["celery", "worker"] else get_hostname()

    def command(self, name: str) -> list[str]:
        service = self.services[name]
        entrypoint = service.get("entrypoint")
        command = service.get("command") or []
        entrypoint = (
            shlex.split(entrypoint) if isinstance(entrypoint, str) else list(entrypoint or [str(ENTRYPOINT_SHIM)])
        )
        command = shlex.split(command) if isinstance(command, str) else list(command)
        if entrypoint == [str(ENTRYPOINT_SHIM)] and command and command[0] not in ("bash", "python", "airflow"):
            command = ["airflow", *command]  # what the image's entrypoint does with a sub-command
            entrypoint = []
        return [
            _IMAGE_ENTRYPOINT_RE.sub(str(ENTRYPOINT_SHIM), self.localize(name, part))
            for part in (*entrypoint, *command)
        ]

    # ------------------------------------------------------------------ starting

    def check_ports(self) -> None:
        busy = [f"{name}:{port}" for name, port in PORTS.items() if name in self.services and not port_is_free(port)]
        if busy:
            raise ComposeError(f"ports in use on this host, needed by the stack: {', '.join(busy)}")

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        generation = self._generation.get(name, 0) + 1
        self._generation[name] = generation
        log_path = self.workdir / "logs" / f"{name}.{generation}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w") as log:
            popen = subprocess.Popen(
                argv,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=env.get("HOME", str(self.workdir)),
                start_new_session=True,
            )
        process = Process(name, popen, log_path, env)
        self.processes[name] = process
        self.started_at[name] = time.monotonic()
        return process

    def start(self, name: str) -> Process:
        image = str(self.services[name].get("image", ""))
        if image.startswith("postgres:"):
            return self._start_postgres(name)
        if image.startswith("redis:"):
            return self._start_redis(name)
        return self.spawn(name, self.command(name), self.env(name))

    def _start_postgres(self, name: str) -> Process:
        env = environment_of(self.services[name])
        bindir = postgres_bin()
        data = Path(tempfile.mkdtemp(prefix="pgdata-", dir=self.workdir))
        password_file = data.parent / f"{data.name}.pw"
        password_file.write_text(env["POSTGRES_PASSWORD"])
        if os.geteuid() == 0:
            self.workdir.chmod(0o755)
            for path in (data, password_file):
                shutil.chown(path, "postgres")
        # As the image's initdb does: POSTGRES_USER is the superuser, passwords on TCP connections.
        subprocess.run(
            as_postgres_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    env["POSTGRES_USER"],
                    "--pwfile",
                    str(password_file),
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        argv = as_postgres_user(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(PORTS[name]),
                "-k",
                str(data),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ]
        )
        process = self.spawn(name, argv, {"PATH": os.environ["PATH"], "HOME": str(data)})
        wait_for(
            "postgres to accept connections",
            lambda: (
                subprocess.run(
                    [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(PORTS[name])], capture_output=True
                ).returncode
                == 0
            ),
            timeout=60,
            interval=0.3,
            logs=process.tail,
        )
        subprocess.run(
            as_postgres_user(
                [
                    str(bindir / "createdb"),
                    "-h",
                    str(data),
                    "-p",
                    str(PORTS[name]),
                    "-U",
                    env["POSTGRES_USER"],
                    env.get("POSTGRES_DB", env["POSTGRES_USER"]),
                ]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
        return process

    def _start_redis(self, name: str) -> Process:
        if not shutil.which("redis-server") or not shutil.which("redis-cli"):
            apt_install("redis-server")
        return self.spawn(
            name,
            ["redis-server", "--port", str(PORTS[name]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            {"PATH": os.environ["PATH"], "HOME": str(self.workdir)},
        )

    def healthcheck(self, name: str) -> bool:
        test = (self.services[name].get("healthcheck") or {}).get("test")
        if not test:
            return self.processes[name].alive()
        if isinstance(test, str):
            argv = ["sh", "-c", test]
        elif test[0] == "CMD-SHELL":
            argv = ["sh", "-c", test[1]]
        else:
            argv = list(test[1:])
        env = self.env(name)
        if str(self.services[name].get("image", "")).startswith("postgres:"):
            env["PGHOST"] = "127.0.0.1"  # the container's local socket is loopback TCP here
        try:
            return subprocess.run(argv, env=env, capture_output=True, timeout=60, cwd=env["HOME"]).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def wait_healthy(self, name: str, timeout: float) -> None:
        def healthy() -> bool:
            if not self.processes[name].alive():
                raise AssertionError(f"{name} exited with {self.processes[name].popen.returncode}\n{self.logs(name)}")
            return self.healthcheck(name)

        wait_for(f"{name}'s healthcheck", healthy, timeout=timeout, interval=1.0, logs=lambda: self.logs(name))
        self.healthy.add(name)

    def wait_completed(self, name: str, timeout: float) -> None:
        try:
            code = self.processes[name].popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{name} did not finish within {timeout:.0f} s\n{self.logs(name)}") from None
        if code != 0:
            raise AssertionError(f"{name} exited with {code}\n{self.logs(name)}")
        self.completed.add(name)

    def up(self, timeout: float = 300, after: dict[str, Callable[[], None]] | None = None) -> None:
        """Start every service once what it depends on is healthy or has completed, as compose does;
        ``after[name]`` runs once ``name`` has completed (before what waits for it starts)."""
        self.check_ports()
        pending = dict(self.services)
        deadline = time.monotonic() + timeout
        while pending:
            ready = [name for name, service in pending.items() if self._dependencies_met(service)]
            if not ready:
                waiting = {name: list(service.get("depends_on") or {}) for name, service in pending.items()}
                raise ComposeError(f"no service can start: {waiting}")
            for name in ready:
                del pending[name]
                self.start(name)
            for name in ready:
                left = max(deadline - time.monotonic(), 1)
                if self._needed_as(name) == "service_completed_successfully" or self.one_shot(name):
                    self.wait_completed(name, left)
                    if after and name in after:
                        after[name]()
                elif self._needed_as(name) == "service_healthy" or not pending:
                    self.wait_healthy(name, left)
        for name in self.services:
            if name not in self.completed and name not in self.healthy:
                self.wait_healthy(name, max(deadline - time.monotonic(), 1))

    def one_shot(self, name: str) -> bool:
        """No healthcheck and not restarted: a job that runs once (airflow-init); `up` shows it
        exit, and a failed one is an error here."""
        service = self.services[name]
        return not (service.get("healthcheck") or {}).get("test") and service.get("restart", "no") == "no"

    @staticmethod
    def _conditions(service: dict[str, Any]) -> dict[str, str]:
        """``depends_on`` in either of compose's forms, as {dependency: condition}."""
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            return dict.fromkeys(depends, "service_started")
        return {name: (rule or {}).get("condition", "service_started") for name, rule in depends.items()}

    def _dependencies_met(self, service: dict[str, Any]) -> bool:
        for dependency, condition in self._conditions(service).items():
            done = {"service_healthy": self.healthy, "service_completed_successfully": self.completed}.get(
                condition, self.processes
            )
            if dependency not in done:
                return False
        return True

    def _needed_as(self, name: str) -> str | None:
        conditions = {self._conditions(service).get(name) for service in self.services.values()}
        for condition in ("service_completed_successfully", "service_healthy"):
            if condition in conditions:
                return condition
        return None

    # ------------------------------------------------------------------ running things in it

    def run(self, name: str, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """`docker compose run --rm NAME ARGV…`: a one-off command with the service's environment."""
        env = self.env(name)
        return subprocess.run(list(argv), env=env, cwd=env["HOME"], capture_output=True, text=True, timeout=timeout)

    def kill(self, name: str) -> None:
        """`docker kill --signal KILL`: no shutdown, no cleanup."""
        process = self.processes[name]
        os.killpg(process.popen.pid, signal.SIGKILL)
        process.popen.wait(timeout=30)
        self.healthy.discard(name)

    def restart(self, name: str, timeout: float = 180) -> Process:
        """What ``restart: always`` does once the container is gone: the same service, anew."""
        process = self.start(name)
        self.wait_healthy(name, timeout)
        return process

    def logs(self, *names: str, lines: int = 40) -> str:
        return "\n".join(self.processes[n].tail(lines) for n in (names or self.processes) if n in self.processes)

    def down(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.alive():
                try:
                    os.killpg(process.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for process in self.processes.values():
            try:
                process.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait(timeout=10)
