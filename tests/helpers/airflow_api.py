"""Airflow's REST API as the UI and scripts use it: JSON in and out, a bearer token, polling with a deadline."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.helpers.polling import wait_for


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
        return wait_for(what, check, timeout, interval)

    def sign_in(self, username: str, password: str) -> None:
        status, token = self.call("POST", "/auth/token", {"username": username, "password": password})
        assert status == 201, token
        self.token = token["access_token"]

    def unpause(self, dag_id: str, timeout: float = 180) -> None:
        self.poll(
            f"{dag_id} to be parsed", lambda: self.call("GET", f"/api/v2/dags/{dag_id}")[0] == 200, timeout=timeout
        )
        status, body = self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        assert status == 200, body

    def trigger(self, dag_id: str, conf: dict, logical_date: str | None = None) -> str:
        """What the Trigger form posts: the form's fields as conf (no logical date unless one is given)."""
        status, run = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": logical_date, "conf": conf})
        assert status == 200, run
        return run["dag_run_id"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        status, body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        assert status == 200, body
        return {
            ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else ""): ti["state"]
            for ti in body["task_instances"]
        }

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, seen: dict[str, set] | None = None) -> dict:
        """Poll until the run ends; ``seen`` collects every state each task was seen in on the way."""

        def finished():
            if seen is not None:
                for task, state in self.task_states(dag_id, run_id).items():
                    seen.setdefault(task, set()).add(state)
            status, body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            return body if status == 200 and body.get("state") in ("success", "failed") else None

        return self.poll(f"{dag_id} run {run_id} to finish", finished, timeout=timeout, interval=0.5)

    def log_events(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> list[dict]:
        query = "?full_content=true" + (f"&map_index={map_index}" if map_index >= 0 else "")
        status, log = self.call(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}{query}"
        )
        assert status == 200, log
        return [event for event in log["content"] if isinstance(event, dict)]

    def explain(self, dag_id: str, run_id: str, lines: int = 15) -> str:
        """For an assertion message: each task's state, and the tail of each failed task's log."""
        _, body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        if not isinstance(body, dict):
            return f"(task instances unavailable: {body})"
        report = []
        for ti in body["task_instances"]:
            report.append(f"{ti['task_id']}[{ti['map_index']}]: {ti['state']} (try {ti['try_number']})")
            if ti["state"] in ("failed", "up_for_retry") and ti["try_number"]:
                try:
                    events = self.log_events(dag_id, run_id, ti["task_id"], ti["try_number"], ti["map_index"])
                except AssertionError as err:
                    report.append(f"  (log unavailable: {err})")
                    continue
                report += [
                    f"  | {e.get('level', '')} {e.get('event')} {e.get('error_detail', '')}".rstrip()
                    for e in events[-lines:]
                ]
        return "\n".join(report)
