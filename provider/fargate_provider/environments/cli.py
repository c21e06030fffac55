"""``fargate-env``: preview environments from a terminal or CI, through Airflow's REST API only.

    fargate-env up pr-42 --image registry.example/app:3f2c1ab --source "https://github.com/org/app/pull/42" --wait
    fargate-env sleep pr-42 | wake pr-42 | down pr-42 [--wait] | list [--owner ana] | url pr-42

Each command but ``list`` and ``url`` triggers ``fargate_ephemeral_environment`` with the form's
fields as the run's conf (the DAG's own Param schema, read from Airflow, checks them first: a bad
value is named as the form names it and nothing is triggered), and with ``--wait`` follows the run
to its end (``up``: until its ``report`` task succeeded, the environment healthy; the teardown
steps after it only act when a create step failed). ``list`` and ``url`` read the environments
page's API. No AWS credentials: Airflow acts with its own connection; the caller needs an Airflow
user allowed to trigger the DAG.

Airflow is found at ``--airflow`` or ``AIRFLOW_URL``; the caller is ``--token``/``AIRFLOW_TOKEN``
(a JWT from Airflow's ``/auth/token``), else ``--username``/``--password`` or
``AIRFLOW_USERNAME``/``AIRFLOW_PASSWORD`` exchanged for one.

Exit codes: 0 done; 1 the run failed (the failing task's reason is printed) or the environment is
not there; 2 bad input, nothing triggered; 3 Airflow unreachable, refusing the credentials, or the
DAG paused or missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx
import tenacity

from fargate_provider.environments.naming import DAG_ID, READY_TASK_ID, run_id_for

PAGE_API = "/fargate/api/environments"
DONE = ("success", "failed")
#: Per action, the task whose success decides the run (else the run's end).
DONE_AT = {"create": READY_TASK_ID}
EXIT_FAILED, EXIT_INPUT, EXIT_AIRFLOW = 1, 2, 3
#: An answer Airflow (or a proxy before it) gives while busy or restarting: asked again.
BUSY_STATUSES = (502, 503, 504)
#: Airflow's 500 when its metadata database refused a write (SQLite busy under a burst of runs,
#: a PostgreSQL failover): asked again, as a busy answer. Any other 500 is an answer.
DATABASE_ERROR = "Database error"


def is_busy(response: httpx.Response) -> bool:
    """An answer that says "ask again later", not "no"."""
    return response.status_code in BUSY_STATUSES or (response.status_code == 500 and DATABASE_ERROR in response.text)


class CliError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------ talking to Airflow


class Airflow:
    """Airflow's REST API as one signed-in caller.

    A request that times out, cannot connect or gets a busy answer (502/503/504, or Airflow's
    "Database error" 500) is sent again
    with capped backoff for up to ``patience`` seconds: a loaded API server (CI runners are) or
    one restarting must not fail a CI job whose run is going fine. Each request is safe to repeat:
    reads are, and a run is triggered under its own run id, so a repeated trigger that got
    through the first time is answered 409 and recognised (see :func:`trigger`).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        username: str | None,
        password: str | None,
        *,
        patience: float = 180,
        timeout: float = 30,
        transport: httpx.BaseTransport | None = None,
        sleep=time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.patience = patience
        self._sleep = sleep
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        if not token:
            if not (username and password):
                raise CliError(
                    "no credentials: set AIRFLOW_TOKEN (or --token), or AIRFLOW_USERNAME and AIRFLOW_PASSWORD",
                    EXIT_AIRFLOW,
                )
            status, body = self.send("POST", "/auth/token", {"username": username, "password": password})
            if status not in (200, 201):
                raise CliError(
                    f"Airflow at {self.base_url} refused the sign-in of {username}: HTTP {status}", EXIT_AIRFLOW
                )
            token = body["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def send(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(httpx.TransportError) | tenacity.retry_if_result(is_busy),
            stop=tenacity.stop_after_delay(self.patience),
            wait=tenacity.wait_exponential(multiplier=1, max=15),
            before_sleep=self._say_once,
            retry_error_callback=_last_answer,
            sleep=self._sleep,
        )
        self._said = False
        try:
            response = retrying(self.http.request, method, path, json=body)
        except httpx.HTTPError as error:
            raise CliError(
                f"cannot reach Airflow at {self.base_url} ({method} {path}, tried for {self.patience:.0f} s): "
                f"{error or type(error).__name__}",
                EXIT_AIRFLOW,
            ) from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    def _say_once(self, state: tenacity.RetryCallState) -> None:
        if self._said:
            return
        self._said = True
        outcome = state.outcome
        why = (
            f"HTTP {outcome.result().status_code}"
            if outcome is not None and not outcome.failed
            else str(outcome.exception() if outcome is not None else "") or "no answer"
        )
        print(
            f"fargate-env: Airflow at {self.base_url} is slow to answer ({why}); asking again for up to "
            f"{self.patience:.0f} s (--patience)",
            file=sys.stderr,
        )

    def call(self, method: str, path: str, body: Any = None, allowed: Sequence[int] = (200, 201)) -> Any:
        status, answer = self.send(method, path, body)
        detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
        if status in (401, 403):
            raise CliError(
                f"Airflow refused {method} {path}: HTTP {status}: {str(detail)[:300]} (a token that is not "
                "valid any more, or a user who may not do this)",
                EXIT_AIRFLOW,
            )
        if status not in allowed:
            raise CliError(f"Airflow answered {method} {path} with HTTP {status}: {str(detail)[:500]}", EXIT_AIRFLOW)
        return answer


def _last_answer(state: tenacity.RetryCallState) -> httpx.Response:
    """When patience runs out: the last busy answer (judged by the caller), or the last error raised."""
    assert state.outcome is not None
    return state.outcome.result()  # raises the last exception when the last try raised


# ------------------------------------------------------------------ the form


def form_errors(params: dict[str, Any], conf: dict[str, Any]) -> list[str]:
    """Each conf value checked against its Param's JSON schema, as the Trigger form checks it; one
    line per bad field, named by its title and key, with what the field allows."""
    import jsonschema

    errors = []
    for key, value in conf.items():
        param = params.get(key)
        if param is None:
            errors.append(f"{key}: not a field of {DAG_ID}'s form")
            continue
        schema = param.get("schema") or {}
        problems = sorted(jsonschema.Draft7Validator(schema).iter_errors(value), key=lambda e: list(e.path))
        if problems:
            title = schema.get("title") or key
            errors.append(f"{title} ({key}): {problems[0].message}. {param.get('description') or ''}".rstrip())
    return errors


def up_conf(args: argparse.Namespace) -> dict[str, Any]:
    conf: dict[str, Any] = {"environment": args.name, "action": "create", "image": args.image}
    variables = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--env {item!r}: give KEY=VALUE", EXIT_INPUT)
        variables[key] = value
    if variables:
        conf["environment_variables"] = variables
    for key, value in (
        ("size", args.size),
        ("desired_count", args.count),
        ("container_port", args.port),
        ("ttl_hours", args.ttl),
        ("expose", args.expose),
        ("subnet_kind", args.subnets),
        ("health_check_path", args.health_check_path),
        ("owner", args.owner),
        ("source", args.source),
        ("allowed_cidrs", args.allow or None),
    ):
        if value is not None:
            conf[key] = value
    return conf


# ------------------------------------------------------------------ runs


def trigger(airflow: Airflow, conf: dict[str, Any], now: dt.datetime | None = None) -> str:
    details = airflow.call("GET", f"/api/v2/dags/{DAG_ID}/details", allowed=(200, 404))
    if "dag_id" not in details:
        raise CliError(f"Airflow has no DAG {DAG_ID} (is the provider's dags/ folder deployed?)", EXIT_AIRFLOW)
    errors = form_errors(details.get("params") or {}, conf)
    if errors:
        raise CliError("the form refuses:\n  " + "\n  ".join(errors), EXIT_INPUT)
    if details.get("is_paused"):
        raise CliError(f"{DAG_ID} is paused in Airflow: its runs would wait; unpause it first", EXIT_AIRFLOW)
    action, name = conf["action"], conf["environment"]
    body = {
        "dag_run_id": run_id_for(action, name, now or dt.datetime.now(dt.UTC)),
        "logical_date": None,
        "conf": conf,
        "note": f"{action} {name} (fargate-env)",
    }
    status, answer = airflow.send("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", body)
    if status == 409:  # a repeated request whose first try got through: the run id is ours
        existing = airflow.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{body['dag_run_id']}", allowed=(200, 404))
        if isinstance(existing, dict) and existing.get("conf") == conf:
            return existing["dag_run_id"]
    detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
    if status in (400, 422):  # the server's own Param check
        raise CliError(f"Airflow refused the form: {str(detail)[:500]}", EXIT_INPUT)
    if status in (401, 403):
        raise CliError(f"Airflow refused to trigger {DAG_ID}: HTTP {status} (who is signed in may not)", EXIT_AIRFLOW)
    if status not in (200, 201):
        raise CliError(f"Airflow did not trigger {DAG_ID}: HTTP {status}: {str(detail)[:500]}", EXIT_AIRFLOW)
    return answer["dag_run_id"]


def follow(
    airflow: Airflow, run_id: str, timeout: float, interval: float = 2.0, echo=None, done_at: str | None = None
) -> str:
    """Poll the run until it ends (or ``timeout``); each task's new state is echoed once.

    :param done_at: a task whose success decides the run: "success" as soon as it succeeded (what
        follows it only acts after a failure, which can no longer happen).
    """
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while True:
        run = airflow.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        tis = airflow.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
        for ti in tis:
            state = ti.get("state")
            if state and state != "skipped" and seen.get(ti["task_id"]) != state and echo:
                echo(f"  {ti['task_id']}: {state}")
            seen[ti["task_id"]] = state
        if run["state"] in DONE:
            return run["state"]
        if done_at and seen.get(done_at) == "success":
            return "success"
        if time.monotonic() > deadline:
            raise CliError(f"run {run_id} has not ended after {timeout:.0f} s (it goes on in Airflow)", EXIT_FAILED)
        time.sleep(interval)


def failure_reasons(airflow: Airflow, run_id: str, lines: int = 8) -> list[str]:
    """The failed tasks, each with its last error lines from Airflow's task log."""
    tis = airflow.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
    reasons = []
    for ti in tis:
        if ti.get("state") != "failed":
            continue
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
        log = airflow.call("GET", f"{path}?full_content=true", allowed=(200, 404))
        events = log.get("content", []) if isinstance(log, dict) else []
        errors = [
            f"{e.get('event')} {e.get('error_detail') or ''}".strip()
            for e in events
            if isinstance(e, dict) and str(e.get("level", "")).lower() in ("error", "critical")
        ]
        reasons.append(f"{ti['task_id']} failed" + (":\n    " + "\n    ".join(errors[-lines:]) if errors else ""))
    return reasons


def report_urls(airflow: Airflow, run_id: str) -> list[str]:
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/report/xcomEntries/return_value?deserialize=true"
    entry = airflow.call("GET", path, allowed=(200, 404))
    value = entry.get("value") if isinstance(entry, dict) else None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    return list(value.get("urls") or []) if isinstance(value, dict) else []


def environments(airflow: Airflow) -> list[dict[str, Any]]:
    return airflow.call("GET", PAGE_API)["environments"]


# ------------------------------------------------------------------ commands


def _change(airflow: Airflow, args: argparse.Namespace, conf: dict[str, Any]) -> int:
    echo = (lambda line: print(line, file=sys.stderr)) if not args.json else None
    run_id = trigger(airflow, conf)
    result: dict[str, Any] = {"environment": conf["environment"], "action": conf["action"], "dag_run_id": run_id}
    if not args.wait:
        result["state"] = "queued"
        _print(args, result, f"{conf['action']} {conf['environment']}: run {run_id} triggered in Airflow")
        return 0
    if echo:
        echo(f"{conf['action']} {conf['environment']}: run {run_id}")
    # A create is up once its report succeeded: the teardown steps after it act only when a create
    # step failed, and skip (seconds of task starts the caller need not wait for).
    state = follow(airflow, run_id, args.timeout, echo=echo, done_at=DONE_AT.get(conf["action"]))
    result["state"] = state
    if state != "success":
        reasons = failure_reasons(airflow, run_id)
        result["errors"] = reasons
        _print(args, result, f"{conf['action']} {conf['environment']} failed (run {run_id}):\n" + "\n".join(reasons))
        return EXIT_FAILED
    urls: list[str] = []
    if conf["action"] == "create":
        urls = report_urls(airflow, run_id)
    elif conf["action"] == "wake":
        urls = next((e["urls"] for e in environments(airflow) if e["environment"] == conf["environment"]), [])
    result["urls"], result["url"] = urls, (urls[0] if urls else None)
    done = {"create": "is up", "destroy": "is gone", "sleep": "is asleep", "wake": "is awake"}[conf["action"]]
    _print(args, result, f"{conf['environment']} {done}" + (f": {', '.join(urls)}" if urls else ""))
    return 0


def _print(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    print(json.dumps(result) if args.json else text)


def cmd_list(airflow: Airflow, args: argparse.Namespace) -> int:
    found = [e for e in environments(airflow) if not args.owner or e.get("owner") == args.owner]
    if args.json:
        print(json.dumps(found))
        return 0
    if not found:
        print("No environments" + (f" of {args.owner}" if args.owner else "") + ".")
        return 0
    rows = [("NAME", "STATE", "TASKS", "OWNER", "EXPIRES", "URL")]
    for e in found:
        state = "asleep" if e.get("asleep_since") else "awake"
        tasks = f"{e.get('running_count')}/{e.get('desired_count')}"
        urls = " ".join(e.get("urls") or []) or "-"
        rows.append((e["environment"], state, tasks, e.get("owner") or "-", e.get("expires_at") or "-", urls))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def cmd_url(airflow: Airflow, args: argparse.Namespace) -> int:
    found = next((e for e in environments(airflow) if e["environment"] == args.name), None)
    if found is None:
        print(f"no environment {args.name}", file=sys.stderr)
        return EXIT_FAILED
    if not found.get("urls"):
        print(f"{args.name} has no URL (exposed inside the VPC only, or no task running)", file=sys.stderr)
        return EXIT_FAILED
    print(found["urls"][0])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fargate-env",
        description="Preview environments on Fargate through Airflow (fargate_ephemeral_environment).",
        epilog="Exit codes: 0 done, 1 the run failed, 2 bad input (nothing triggered), 3 Airflow unreachable/refused.",
    )
    parser.add_argument(
        "--airflow",
        default=os.environ.get("AIRFLOW_URL") or "http://localhost:8080",
        help="Airflow's base URL (default: $AIRFLOW_URL, else http://localhost:8080)",
    )
    parser.add_argument("--token", default=os.environ.get("AIRFLOW_TOKEN") or None, help="default: $AIRFLOW_TOKEN")
    parser.add_argument("--username", default=os.environ.get("AIRFLOW_USERNAME") or None)
    parser.add_argument(
        "--patience",
        type=float,
        default=180,
        help="seconds to keep asking a slow, busy or restarting Airflow before giving up (default 180)",
    )
    parser.add_argument("--password", default=os.environ.get("AIRFLOW_PASSWORD") or None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def changing(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("name", help="the environment: 2-30 lower-case letters, digits and hyphens")
        command.add_argument("--wait", action="store_true", help="follow the run to its end")
        command.add_argument("--timeout", type=float, default=1800, help="seconds --wait waits (default 1800)")
        command.add_argument("--json", action="store_true", help="print one JSON object")
        return command

    up = changing("up", "create the environment, or update it (image, size, count) if it exists")
    up.add_argument("--image", required=True, help="the container image, e.g. registry.example/app:3f2c1ab")
    up.add_argument("--size", help="vCPU/memory of each task, e.g. 256/512 or 1024/2048")
    up.add_argument("--count", type=int, help="tasks to keep running (0-10)")
    up.add_argument("--port", type=int, help="the port the container listens on")
    up.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="a plain environment variable")
    up.add_argument("--ttl", type=int, help="hours until the janitor destroys it")
    up.add_argument("--expose", choices=("auto", "load_balancer", "public_ip", "none"))
    up.add_argument("--subnets", choices=("private", "public"))
    up.add_argument("--health-check-path", help="behind the load balancer: the health check's path")
    up.add_argument(
        "--allow", action="append", default=[], metavar="CIDR", help="behind the load balancer: open only to these"
    )
    up.add_argument("--owner", help="who it is for (default: the Airflow user)")
    up.add_argument("--source", help='where it comes from, e.g. "https://github.com/org/app/pull/42 3f2c1ab"')
    changing("down", "destroy the environment")
    changing("sleep", "stop its tasks, keep everything else (the URL answers: asleep)")
    changing("wake", "start its tasks again and wait until they are healthy")
    listing = commands.add_parser("list", help="the environments, with state, owner and URL")
    listing.add_argument("--owner", help="only this owner's")
    listing.add_argument("--json", action="store_true")
    url = commands.add_parser("url", help="print the environment's URL")
    url.add_argument("name")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        airflow = Airflow(args.airflow, args.token, args.username, args.password, patience=args.patience)
        if args.command == "list":
            return cmd_list(airflow, args)
        if args.command == "url":
            return cmd_url(airflow, args)
        if args.command == "up":
            conf = up_conf(args)
        else:
            conf = {"environment": args.name, "action": {"down": "destroy"}.get(args.command, args.command)}
        return _change(airflow, args, conf)
    except CliError as error:
        print(f"fargate-env: {error}", file=sys.stderr)
        return error.code


if __name__ == "__main__":
    sys.exit(main())
