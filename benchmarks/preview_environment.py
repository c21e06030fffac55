"""Benchmark: preview environments as CI makes them, with ``fargate-env`` against ``make airflow``'s stack.

    .venv/bin/python benchmarks/preview_environment.py [--burst 10]

Starts ``scripts/airflow_local.py`` (airflow standalone: API server, scheduler, triggerer, DAG
processor, LocalExecutor; the local emulator, its load balancer Variables set) on free ports in a
temporary home, signs in as admin, and measures in wall-clock seconds (Airflow's own loops run in
real time; the emulator plays ECS at its default pace):

* ``fargate-env up NAME --wait``: from the command's start to its exit with the URL (the
  environment stable: every target healthy), and the same for ``sleep``, ``wake`` and ``down``;
  then ``up`` again for another name (the stack warm, as CI's is);
* a burst: ``--burst`` ``fargate-env up`` (without ``--wait``) one right after another, as CI jobs
  of as many pull requests would, then each run followed until its environment is healthy (its
  ``report`` task done, what ``up --wait`` waits for): each one's time from the start, the last
  one against one create alone in a warm stack;
* the machine's busy CPU time (``/proc/stat``, every process: Airflow's, the emulator's, the command's)
  while the stack idles, during the warm create and during the burst: what the burst's time is bound by
  on this machine's cores;
* then every environment destroyed again (not measured).

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAG_ID = "fargate_ephemeral_environment"
IMAGE = "public.ecr.aws/nginx/nginx:1.27"
FARGATE_ENV = str(Path(sys.executable).parent / "fargate-env")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base: str, method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, object]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(
        base + path, method=method, headers=headers, data=None if body is None else json.dumps(body).encode()
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def wait_for(what: str, check, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


def fargate_env(base: str, token: str, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS"))}
    env.update({"AIRFLOW_URL": base, "AIRFLOW_TOKEN": token})
    started = time.monotonic()
    done = subprocess.run([FARGATE_ENV, *args], env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"fargate-env {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return time.monotonic() - started, done


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (``/proc/stat``'s first line: all but
    idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def timeline(base: str, token: str, run_id: str) -> str:
    """Each task that ran, as ``task +start-end`` seconds from the run's start (where a run's time goes)."""
    import datetime as dt

    _, run = call(base, "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", token)
    _, tis = call(base, "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", token)
    t0 = dt.datetime.fromisoformat(run["start_date"])  # type: ignore[index]
    rows = []
    for ti in tis["task_instances"]:  # type: ignore[index]
        if ti.get("start_date") and ti.get("end_date"):
            start = (dt.datetime.fromisoformat(ti["start_date"]) - t0).total_seconds()
            end = (dt.datetime.fromisoformat(ti["end_date"]) - t0).total_seconds()
            rows.append(
                (
                    start,
                    f"{ti['task_id']} +{start:.1f}-{end:.1f}"
                    + ("" if ti["state"] == "success" else f" ({ti['state']})"),
                )
            )
    if not run.get("end_date"):  # type: ignore[union-attr]
        return ", ".join(row for _, row in sorted(rows)) + "; the run goes on (its teardown steps check and skip)"
    run_end = (dt.datetime.fromisoformat(run["end_date"]) - t0).total_seconds()  # type: ignore[index]
    return ", ".join(row for _, row in sorted(rows)) + f"; run ends +{run_end:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--timeline", action="store_true", help="print each task's start and end in the runs")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="fargate-bench-preview-"))
    port, emulator_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_ENDPOINT"))}
    env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
    env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(free_port())
    log = (home / "stack.log").open("w")
    stack = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "airflow_local.py"), "--home", str(home / "airflow"),
         "--port", str(port), "--emulator-port", str(emulator_port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
    )  # fmt: skip
    base = f"http://localhost:{port}"
    try:
        started = time.monotonic()

        def healthy():
            status, body = call(base, "GET", "/api/v2/monitor/health")
            parts = ("scheduler", "triggerer", "dag_processor")
            return status == 200 and isinstance(body, dict) and all(body[p]["status"] == "healthy" for p in parts)

        wait_for("airflow standalone to be healthy", healthy, timeout=300, interval=2)
        passwords = home / "airflow" / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text())["admin"]
        status, token_body = call(base, "POST", "/auth/token", body={"username": "admin", "password": password})
        token = token_body["access_token"]  # type: ignore[index]
        wait_for(f"{DAG_ID} to be parsed", lambda: call(base, "GET", f"/api/v2/dags/{DAG_ID}", token)[0] == 200, 180)
        call(base, "PATCH", f"/api/v2/dags/{DAG_ID}", token, {"is_paused": False})
        print(f"preview_environment: make airflow's stack ready in {time.monotonic() - started:.0f} s ({home})")

        timings = {}
        for command in ("up", "sleep", "wake", "down"):
            extra = ["--image", IMAGE] if command == "up" else []
            seconds, done = fargate_env(base, token, command, "bench-one", *extra, "--wait", "--json")
            timings[command] = seconds
            print(f"  fargate-env {command} bench-one --wait: {seconds:.1f} s -> {done.stdout.strip()[:160]}")
            if args.timeline:
                print(f"    {timeline(base, token, json.loads(done.stdout)['dag_run_id'])}")

        # The stack's own load while no run goes on (scheduler and triggerer loops, the emulator).
        idle_from, idle_t = busy_cpu_seconds(), time.monotonic()
        time.sleep(20)
        idle_rate = (busy_cpu_seconds() - idle_from) / (time.monotonic() - idle_t)
        cores = os.cpu_count() or 1
        # The first create above is the stack's first run (cold imports and DAG bundle); CI's stack is warm.
        cpu_from = busy_cpu_seconds()
        seconds, done = fargate_env(base, token, "up", "bench-two", "--image", IMAGE, "--wait", "--json")
        one_cpu = busy_cpu_seconds() - cpu_from
        timings["up_warm"] = seconds
        print(
            f"  CPU: the idle stack keeps {idle_rate:.2f} of {cores} cores busy; one warm create: {one_cpu:.0f} CPU-s "
            f"in {seconds:.0f} s ({one_cpu - idle_rate * seconds:.0f} above the idle stack's)"
        )
        print(f"  fargate-env up bench-two --wait (a warm stack): {seconds:.1f} s -> {done.stdout.strip()[:120]}")
        if args.timeline:
            print(f"    {timeline(base, token, json.loads(done.stdout)['dag_run_id'])}")
        fargate_env(base, token, "down", "bench-two", "--wait")
        if not args.burst:
            return
        names = [f"burst-{i}" for i in range(args.burst)]
        # One after another as fast as the command goes (about a second each), as CI jobs of as many
        # pull requests would arrive; each timed from its own start. (All in the same instant lock
        # make airflow's SQLite metadata database for a minute: Airflow's SQLite is for trying out.)
        triggered = {}
        burst_cpu_from = busy_cpu_seconds()
        for name in names:
            asked = time.monotonic()
            _, done = fargate_env(base, token, "up", name, "--image", IMAGE, "--json")
            triggered[name] = (asked, json.loads(done.stdout)["dag_run_id"])
        burst_seconds = time.monotonic() - triggered[names[0]][0]
        healthy: dict[str, float] = {}
        states: dict[str, str] = {}

        def all_healthy():
            for name, (_, run_id) in triggered.items():
                if name in healthy:
                    continue
                _, run = call(base, "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", token)
                _, report = call(base, "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/report", token)
                if isinstance(report, dict) and report.get("state") == "success":
                    healthy[name], states[name] = time.monotonic(), "success"  # what `up --wait` waits for
                elif isinstance(run, dict) and run.get("state") == "failed":
                    healthy[name], states[name] = time.monotonic(), "failed"
            return len(healthy) == len(triggered)

        wait_for("the burst's environments to be healthy", all_healthy, timeout=60 * 60, interval=1)
        burst_cpu = busy_cpu_seconds() - burst_cpu_from
        waits = sorted(healthy[n] - triggered[n][0] for n in names)
        print(
            f"  burst of {args.burst} `fargate-env up` (all triggered within {burst_seconds:.0f} s): "
            f"{sum(s == 'success' for s in states.values())}/{args.burst} healthy; start to healthy (report done): "
            f"median {statistics.median(waits):.0f} s, last {waits[-1]:.0f} s = {waits[-1] / timings['up_warm']:.1f}x "
            f"one create alone ({timings['up_warm']:.0f} s, warm); from the first trigger to the last healthy: "
            f"{max(healthy.values()) - triggered[names[0]][0]:.0f} s"
        )
        span = max(healthy.values()) - triggered[names[0]][0]
        work = one_cpu - idle_rate * timings["up_warm"]  # one create's own CPU-s
        floor = args.burst * work / max(cores - idle_rate, 0.01)
        print(
            f"  CPU during the burst: {burst_cpu:.0f} CPU-s in {span:.0f} s ({burst_cpu / span:.2f} of {cores} cores); "
            f"{args.burst} creates at one create's {work:.0f} CPU-s on the {cores - idle_rate:.2f} cores the idle stack"
            f" leaves need at least {floor:.0f} s = {floor / timings['up_warm']:.1f}x one create alone"
        )
        for name in names:
            fargate_env(base, token, "down", name, "--wait")
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        try:
            stack.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
        log.close()


if __name__ == "__main__":
    main()
