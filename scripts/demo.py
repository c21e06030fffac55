"""`make demo`: the provider's main job end to end, against the local ECS emulator (no AWS account).

1. start the emulator (`fargate-local serve`) and a throwaway Airflow home (.demo/airflow, SQLite);
2. `airflow dags test fargate_ephemeral_environment` (create: cluster → task definition →
   service of 2 tasks → wait until stable);
3. `airflow dags test fargate_batch_job` (a one-off task: logs, exit code, cost);
4. `airflow dags test fargate_ephemeral_environment` with action=destroy;
5. a summary read from Airflow's metadata DB and the emulator; exit 1 if any task failed or
   anything is left in the emulator.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_HOME = ROOT / ".demo" / "airflow"
ENVIRONMENT = "demo"


def main() -> int:
    started = time.monotonic()
    from fargate_provider.local.process import airflow_environment, start_emulator

    shutil.rmtree(DEMO_HOME, ignore_errors=True)
    DEMO_HOME.mkdir(parents=True)
    emulator = start_emulator()
    env = airflow_environment(DEMO_HOME, emulator.endpoint, ROOT / "dags")
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    # `airflow dags test` runs triggers in its own process, with no executor: none of the
    # stale-event race the triggers' resume guard is for (fargate_provider/triggers/base.py).
    env["AIRFLOW__FARGATE__RESUME_NOT_BEFORE_SECONDS"] = "0"
    print(f"local ECS emulator (fargate-local) at {emulator.endpoint}; Airflow home {DEMO_HOME}", flush=True)
    try:
        airflow(env, "db", "migrate")
        steps = [
            ("fargate_ephemeral_environment", {"environment": ENVIRONMENT, "desired_count": 2, "ttl_hours": 2}),
            ("fargate_batch_job", {}),
            ("fargate_ephemeral_environment", {"environment": ENVIRONMENT, "action": "destroy"}),
        ]
        for dag_id, conf in steps:
            print(f"\n$ airflow dags test {dag_id} --conf '{json.dumps(conf)}'", flush=True)
            airflow(env, "dags", "test", dag_id, "--conf", json.dumps(conf))
        removed = remove_batch_job_leftovers(env)
        return summarize(env, started, removed)
    finally:
        emulator.stop()


def airflow(env: dict[str, str], *args: str) -> None:
    """One Airflow CLI command; its output is the task logs. The summary judges the runs from
    the metadata DB, task by task, not from the command's exit code alone."""
    completed = subprocess.run([str(Path(sys.executable).parent / "airflow"), *args], env=env, cwd=ROOT, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"airflow {' '.join(args)} exited {completed.returncode}")


def in_airflow(env: dict[str, str]):
    """Point this process at the demo's Airflow home and emulator (for reading results)."""
    import os

    os.environ.update(env)


def remove_batch_job_leftovers(env: dict[str, str]) -> list[str]:
    """A daily job keeps its cluster and task definition between runs; the demo removes them."""
    in_airflow(env)
    from fargate_provider.hooks.fargate import FargateHook

    hook = FargateHook(aws_conn_id="aws_default")
    removed = []
    for arn in hook.list_task_definition_revisions("batch-job"):
        hook.deregister_task_definition(arn)
        hook.delete_task_definitions([arn])
        removed.append(arn.rsplit("/", 1)[-1])
    if hook.describe_cluster("fargate-batch") is not None:
        hook.delete_cluster("fargate-batch")
        removed.append("cluster fargate-batch")
    return removed


def summarize(env: dict[str, str], started: float, removed: list[str]) -> int:
    in_airflow(env)
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from fargate_provider.hooks.fargate import FargateHook
    from fargate_provider.local.leftovers import ecs_leftovers

    problems: list[str] = []
    print("\n== summary ==")
    with create_session() as session:
        runs = session.query(DagRun).order_by(DagRun.start_date).all()
        for run in runs:
            tis = {ti.task_id: ti for ti in run.get_task_instances(session=session)}
            xcom = {
                (row.task_id, row.key): XComModel.deserialize_value(row)
                for row in session.query(XComModel).filter_by(dag_id=run.dag_id, run_id=run.run_id)
            }
            action = (
                (run.conf or {}).get("action", "create") if run.dag_id == "fargate_ephemeral_environment" else "run"
            )
            print(f"{run.dag_id} ({action}): {run.state}")
            bad = [f"{run.dag_id}.{t}" for t, ti in tis.items() if str(ti.state) in ("failed", "upstream_failed")]
            problems += bad + ([f"{run.dag_id} run {run.state}"] if str(run.state) != "success" else [])
            preflight = xcom.get(("preflight", "return_value"))
            if preflight:
                print(
                    f"  preflight: {len(preflight['passed'])} checks passed, {len(preflight['not_checked'])} not checked "
                    f"({'; '.join(preflight['not_checked'])})"
                )
            report = xcom.get(("report", "return_value"))
            if report:
                print(
                    f"  created: cluster {report['cluster']}, service {report['service']} ({report['running']} tasks running), "
                    f"task definition {report['task_definition']}, {report['subnets']} subnets, expires {report['expires_at']}"
                )
                print(f"  estimated cost while it runs: ${report['estimated_usd_per_hour']}/hour")
                where = " (inside the VPC only)" if report.get("expose") == "none" else f" ({report.get('expose')})"
                print(f"  URL: {', '.join(report.get('urls') or []) or 'none'}{where}")
            service = tis.get("create_service")
            if service is not None and service.start_date and service.end_date and str(service.state) == "success":
                print(
                    f"  time to stable (create → strict stable check, waited in the triggerer): "
                    f"{(service.end_date - service.start_date).total_seconds():.1f} s"
                )
            if action == "destroy":
                done = [
                    t
                    for t in ("destroy_service", "destroy_task_definition", "destroy_cluster")
                    if str(tis[t].state) == "success"
                ]
                print(f"  destroyed: {', '.join(done)}")
            if run.dag_id == "fargate_batch_job":
                hook = FargateHook(aws_conn_id="aws_default")
                for arn in xcom.get(("run_task", "return_value")) or []:
                    task = (
                        (hook.describe_tasks("fargate-batch", [arn]) or [{}])[0]
                        if hook.describe_cluster("fargate-batch")
                        else {}
                    )
                    codes = {c.get("name"): c.get("exitCode") for c in task.get("containers", [])}
                    print(f"  task {arn.rsplit('/', 1)[-1]}: {task.get('lastStatus')}, exit codes {codes}")
                cost = xcom.get(("run_task", "cost"))
                if cost:
                    print(
                        f"  estimated cost: ${cost['usd']:.6f} ({cost['vcpu_seconds']:.0f} vCPU-s, {cost['gb_seconds']:.0f} GB-s, "
                        f"{cost['billed_seconds']} s billed, {cost['region']} {cost['architecture']})"
                    )
                else:
                    problems.append("the batch job reported no cost")
    if removed:
        print(f"removed what the daily batch job keeps between runs: {', '.join(removed)}")
    left = ecs_leftovers(FargateHook(aws_conn_id="aws_default").conn)
    count = sum(len(items) for items in left.values())
    print(f"resources left in the emulator: {count}{' ' + str(left) if left else ''}")
    print(f"demo took {time.monotonic() - started:.0f} s")
    if problems or left or len(runs) != 3:
        print(f"DEMO FAILED: {problems} {left}")
        return 1
    print("demo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
