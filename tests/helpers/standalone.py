"""`make airflow`'s stack (scripts/airflow_local.py: airflow standalone + the emulator) for the tests
that drive it through Airflow's REST API, as a module-scoped fixture each of those modules declares."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.airflow_api import AirflowApi

ROOT = Path(__file__).resolve().parent.parent.parent
DAG_ID = "fargate_ephemeral_environment"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def running_stack(tmp_path_factory, settings: dict[str, str] | None = None) -> Iterator[tuple[AirflowApi, str, Path]]:
    """`scripts/airflow_local.py` in its own process group, on free ports; stopped (Ctrl-C) at the end.

    :param settings: Airflow settings (``AIRFLOW__…``) for the stack's components, besides `make airflow`'s.
    """
    home = tmp_path_factory.mktemp("airflow-standalone")
    port, emulator_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_ENDPOINT"))}
    env.update(settings or {})
    # Airflow's log servers on free ports too: the defaults (8793, 8794) may be another Airflow's.
    env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
    env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(free_port())
    log = (home / "stack.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "airflow_local.py"),
            "--home",
            str(home / "airflow"),
            "--port",
            str(port),
            "--emulator-port",
            str(emulator_port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=ROOT,
        # with SIGINT ignored, as a shell without job control starts `cmd &` (CI scripts): Ctrl-C must still stop it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    api = AirflowApi(f"http://localhost:{port}")
    try:

        def healthy():
            status, body = api.call("GET", "/api/v2/monitor/health")
            return status == 200 and all(
                body[c]["status"] == "healthy" for c in ("scheduler", "triggerer", "dag_processor")
            )

        api.poll("airflow standalone to be healthy", healthy, timeout=240, interval=2)
        password = json.loads((home / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        status, token = api.call("POST", "/auth/token", {"username": "admin", "password": password})
        assert status == 201, token
        api.token = token["access_token"]
        yield api, f"http://127.0.0.1:{emulator_port}", home
    finally:
        os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal would
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        log.close()


def stack_errors(home: Path, lines: int = 30) -> str:
    """For an assertion message: the stack's own error lines (a task killed before it logs anything
    says why only here)."""
    text = (home / "stack.log").read_text(errors="replace").splitlines()
    errors = [line for line in text if any(word in line for word in ("ERROR", "Error", "Traceback", "409"))]
    return "\n".join(["stack.log, error lines:", *errors[-lines:]])
