"""`make airflow` (scripts/airflow_local.py): the real stack, airflow standalone + the emulator.

Triggers fargate_ephemeral_environment through the REST API as the UI's Trigger form does,
and sees the run succeed with its stable-wait deferred to, and resumed from, the triggerer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.aws import ecs_leftovers

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "fargate_ephemeral_environment"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AirflowApi:
    def __init__(self, base: str):
        self.base, self.token = base, None

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.base + path, method=method, headers=headers, data=None if body is None else json.dumps(body).encode()
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            return 0, str(err)

    def poll(self, what: str, check, timeout: float, interval: float = 1.0):
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`scripts/airflow_local.py` in its own process group, on free ports; stopped (Ctrl-C) at the end."""
    home = tmp_path_factory.mktemp("airflow-standalone")
    port, emulator_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_ENDPOINT"))}
    log = (home / "stack.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "airflow_local.py"), "--home", str(home / "airflow"),
         "--port", str(port), "--emulator-port", str(emulator_port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT,
    )
    api = AirflowApi(f"http://localhost:{port}")
    try:
        def healthy():
            status, body = api.call("GET", "/api/v2/monitor/health")
            return status == 200 and all(body[c]["status"] == "healthy" for c in ("scheduler", "triggerer", "dag_processor"))

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


def trigger_and_wait(api: AirflowApi, conf: dict) -> tuple[str, dict]:
    api.poll(f"{DAG_ID} to be parsed", lambda: api.call("GET", f"/api/v2/dags/{DAG_ID}")[0] == 200, timeout=120)
    assert api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})[0] == 200
    # What the Trigger form posts: the form's fields as conf.
    status, run = api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
    assert status == 200, run
    run_id = run["dag_run_id"]

    def finished():
        _, body = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        return body if isinstance(body, dict) and body.get("state") in ("success", "failed") else None

    final = api.poll(f"run {run_id} to finish", finished, timeout=300, interval=2)
    _, tis = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
    states = {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}
    assert final["state"] == "success", states
    return run_id, states


def test_rest_triggered_environment_waits_in_the_triggerer_and_succeeds(stack):
    api, emulator, _ = stack
    run_id, states = trigger_and_wait(api, {"environment": "from-ui", "desired_count": 2, "subnet_kind": "public"})
    assert states["create_service"] == "success" and states["report"] == "success"
    status, log = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/create_service/logs/1?full_content=true")
    assert status == 200, log
    events = log["content"]
    # The stable wait ran in the triggerer (the trigger's own log lines)...
    trigger_lines = [e["event"] for e in events if str(e.get("logger", "")).endswith("triggers.service.FargateServiceTrigger")]
    assert "from-ui: (service from-ui) has reached a steady state." in trigger_lines
    # ...and the task resumed in a worker after it: execute_complete's line comes later.
    messages = [e.get("event") for e in events]
    assert messages.index("Resumed from the triggerer: the wait succeeded.") > messages.index(trigger_lines[-1])
    assert ecs_leftovers(emulator)["services"] == ["from-ui"]

    _, states = trigger_and_wait(api, {"environment": "from-ui", "action": "destroy"})
    assert states["destroy_cluster"] == "success"
    assert ecs_leftovers(emulator) == {}
