"""`fargate-env` keeps asking a slow or busy Airflow (CI caught a run that went fine while one of the
CLI's polls took longer than 30 s on a loaded runner, and the CLI gave up with exit 3). Airflow is
played by an httpx MockTransport: no stack needed."""

from __future__ import annotations

import json

import httpx
import pytest

from fargate_provider.environments import cli

CONF = {"environment": "pr-9", "action": "destroy"}
PARAMS = {"environment": {"schema": {"type": "string"}}, "action": {"schema": {"type": "string"}}}


class SlowAirflow:
    """The REST API calls the CLI makes, with the first ``slow`` requests of each kind timing out
    after the server did the work (the worst case for a trigger: the run exists, the answer is lost)."""

    def __init__(self, slow: int = 0, busy: int = 0):
        self.slow = {"POST": slow, "GET": slow}
        self.busy = busy
        self.runs: dict[str, dict] = {}
        self.posts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.busy:
            self.busy -= 1
            if self.busy % 2:  # Airflow's answer when SQLite was locked by a burst of runs
                return httpx.Response(500, json={"reason": "Database error", "message": "Serious error"})
            return httpx.Response(503, json={"detail": "Service Unavailable"})
        if request.method == "POST" and path.endswith("/dagRuns"):
            self.posts += 1
            run = json.loads(request.content)
            if run["dag_run_id"] in self.runs:
                return httpx.Response(409, json={"detail": "DAG run already exists"})
            self.runs[run["dag_run_id"]] = {"dag_run_id": run["dag_run_id"], "conf": run["conf"], "state": "queued"}
            return self._maybe_slow(request, httpx.Response(200, json=self.runs[run["dag_run_id"]]))
        if path.endswith("/details"):
            return httpx.Response(200, json={"dag_id": cli.DAG_ID, "params": PARAMS, "is_paused": False})
        if path.endswith("/taskInstances"):
            return self._maybe_slow(request, httpx.Response(200, json={"task_instances": []}))
        run_id = path.rsplit("/", 1)[-1]
        if run_id in self.runs:
            self.runs[run_id]["state"] = "success"
            return self._maybe_slow(request, httpx.Response(200, json=self.runs[run_id]))
        return httpx.Response(404, json={"detail": "not found"})

    def _maybe_slow(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if self.slow[request.method]:
            self.slow[request.method] -= 1
            raise httpx.ReadTimeout("timed out", request=request)
        return response


def airflow(server, patience: float = 60) -> cli.Airflow:
    return cli.Airflow(
        "http://airflow.test", "token", None, None, patience=patience, transport=httpx.MockTransport(server),
        sleep=lambda seconds: None,
    )  # fmt: skip


def test_a_trigger_whose_answer_was_lost_is_recognised_and_not_triggered_twice(capsys):
    server = SlowAirflow(slow=1)
    run_id = cli.trigger(airflow(server), CONF)
    assert list(server.runs) == [run_id] and run_id.startswith("destroy-pr-9-")
    assert server.posts == 2  # asked again, answered 409, recognised by its conf
    assert "slow to answer" in capsys.readouterr().err


def test_a_poll_that_times_out_is_asked_again_and_the_run_followed_to_its_end(capsys):
    server = SlowAirflow()
    run_id = cli.trigger(airflow(server), CONF)
    server.slow["GET"] = 3
    assert cli.follow(airflow(server), run_id, timeout=60, interval=0) == "success"
    err = capsys.readouterr().err
    assert err.count("slow to answer") == 1  # three timeouts of one request, said once


def test_busy_answers_are_asked_again():
    server = SlowAirflow(busy=4)
    assert cli.trigger(airflow(server), CONF).startswith("destroy-pr-9-")
    assert server.busy == 0 and len(server.runs) == 1


def test_a_500_that_is_not_the_database_is_an_answer():
    asked = []

    def broken(request):
        asked.append(request)
        return httpx.Response(500, json={"detail": "Internal Server Error"})

    with pytest.raises(cli.CliError) as raised:
        airflow(broken).call("GET", "/api/v2/version")
    assert "HTTP 500" in str(raised.value) and len(asked) == 1  # at once: not asked again


def test_out_of_patience_it_says_what_it_tried_and_exits_3():
    def unreachable(request):
        raise httpx.ConnectError("Connection refused", request=request)

    with pytest.raises(cli.CliError) as raised:
        airflow(unreachable, patience=0).call("GET", "/api/v2/version")
    assert raised.value.code == cli.EXIT_AIRFLOW
    assert "cannot reach Airflow at http://airflow.test (GET /api/v2/version, tried for 0 s)" in str(raised.value)
    assert "Connection refused" in str(raised.value)

    with pytest.raises(cli.CliError) as raised:
        airflow(SlowAirflow(busy=5), patience=0).call("GET", "/api/v2/version")
    assert "HTTP 503" in str(raised.value)


def test_a_conflicting_run_id_that_is_not_ours_is_an_error(monkeypatch):
    server = SlowAirflow()
    run_id = cli.trigger(airflow(server), CONF)
    server.runs[run_id]["conf"] = {"environment": "pr-9", "action": "create"}
    monkeypatch.setattr(cli, "run_id_for", lambda *args: run_id)  # the same id, another run's
    with pytest.raises(cli.CliError) as raised:
        cli.trigger(airflow(server), CONF)
    assert "HTTP 409" in str(raised.value)
