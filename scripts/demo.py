"""`make demo`: the provider's main job end to end, against the local ECS emulator (no AWS account).

One Python process, so Airflow starts once (its import, the metadata DB, the DAG files, the
in-process execution API) instead of once per command:

1. start the emulator (`fargate-local serve`, a child process) while this process imports Airflow
   and migrates a throwaway Airflow home (.demo/airflow, SQLite): `airflow db migrate`;
2. parse the DAG files (a DagBag of the dags folder's bundle);
3. `dag.test(run_conf=…)` three times, what `airflow dags test DAG --conf '…'` runs (tasks, and
   triggers of deferred tasks, in this process):
   `fargate_ephemeral_environment` (create: cluster → task definition → service of 2 tasks →
   wait until stable), `fargate_batch_job` (a one-off task: its container's lines, exit code, cost),
   `fargate_ephemeral_environment` with action=destroy;
4. a summary read from Airflow's metadata DB and the emulator; exit 1 if any task failed or
   anything is left in the emulator.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_HOME = ROOT / ".demo" / "airflow"
DAGS = ROOT / "dags"
ENVIRONMENT = "demo"
STEPS = [
    ("fargate_ephemeral_environment", {"environment": ENVIRONMENT, "desired_count": 2, "ttl_hours": 2}),
    ("fargate_batch_job", {}),
    ("fargate_ephemeral_environment", {"environment": ENVIRONMENT, "action": "destroy"}),
]
# Read when Airflow is imported, so set before it.
AIRFLOW_SETTINGS = {
    "AIRFLOW_HOME": str(DEMO_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    # ... but the container's lines, as the task log shows them (the trigger follows them, the hook reads the last).
    "AIRFLOW__LOGGING__NAMESPACE_LEVELS": (
        "fargate_provider.triggers.task=INFO airflow.task.hooks.fargate_provider.hooks.fargate=INFO"
    ),
    # The waits defer and dag.test runs their triggers in this process, one at a time, with no
    # executor: none of the stale-event race the triggers' resume guard is for
    # (fargate_provider/triggers/base.py). Deferring is set explicitly: the airflow.cfg Airflow
    # writes into a new home sets default_deferrable = false.
    "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "true",
    "AIRFLOW__FARGATE__RESUME_NOT_BEFORE_SECONDS": "0",
    # With no resume guard a deferral costs nothing here, so the waits defer at once (instead of
    # first waiting up to 15 s in the worker) and the demo shows them in the triggerer.
    "AIRFLOW__FARGATE__WAIT_IN_WORKER_SECONDS": "0",
    # One botocore data loader for the AWS hooks' sessions: the JSON models parsed once (demo_boto.py).
    "AIRFLOW__AWS__SESSION_FACTORY": "demo_boto.SharedLoaderSessionFactory",
}


def main() -> int:
    started = time.monotonic()
    sys.stdout.reconfigure(line_buffering=True)  # prints and task logs in order when piped
    # Python's cyclic GC at its default thresholds (700, 10, 10) walks Airflow's large, long-lived
    # heap a dozen times in the runs: measured, 40 % of this process's CPU. Young collections every
    # 50 000 allocations instead: no full collection in a demo, about 500 MB at most.
    gc.set_threshold(50_000, 20, 20)
    from fargate_local.process import airflow_environment, start_emulator

    shutil.rmtree(DEMO_HOME, ignore_errors=True)
    DEMO_HOME.mkdir(parents=True)
    os.environ.update(AIRFLOW_SETTINGS)
    os.environ["AIRFLOW__CORE__FERNET_KEY"] = fernet_key()
    # The emulator starts in its own process while this one imports Airflow and migrates the DB.
    with ThreadPoolExecutor(max_workers=1) as pool:
        starting = pool.submit(start_emulator)
        try:
            migrate_db()
        except BaseException:
            if starting.exception() is None:
                starting.result().stop()
            raise
        emulator = starting.result()
    try:
        env = airflow_environment(DEMO_HOME, emulator.endpoint, DAGS)
        for name in set(os.environ) - set(env):
            del os.environ[name]
        os.environ.update(env)
        print(f"local ECS emulator (fargate-local) at {emulator.endpoint}; Airflow home {DEMO_HOME}")
        dags = parse_dags()
        for dag_id, conf in STEPS:
            print(f"\n$ airflow dags test {dag_id} --conf '{json.dumps(conf)}'  (dag.test in this process)")
            if not dag_test(dags[dag_id], conf):
                print(f"{dag_id} run failed: the runs after it are skipped")
                break
        removed = remove_batch_job_leftovers()
        return summarize(started, removed)
    finally:
        emulator.stop()


def fernet_key() -> str:
    """A key for this throwaway home: deferred tasks' trigger arguments are stored encrypted."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def migrate_db() -> None:
    """`airflow db migrate`: import Airflow (its settings and ORM, for this home) and create the DB."""
    from airflow.utils import db

    db.upgradedb()


def parse_dags() -> dict:
    """The dags folder's bundle parsed once, as `airflow dags test` parses it (each dag.test
    syncs it to the DB again, as Airflow does)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    dags: dict = {}
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        dagbag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        if dagbag.import_errors:
            raise SystemExit(f"DAG files failed to parse: {dagbag.import_errors}")
        dags.update(dagbag.dags)
    missing = {dag_id for dag_id, _ in STEPS} - set(dags)
    if missing:
        raise SystemExit(f"DAGs not found in {DAGS}: {sorted(missing)}")
    return dags


def dag_test(dag, conf: dict) -> bool:
    """One run, as `airflow dags test`: its output is the task logs. The summary judges the runs
    from the metadata DB, task by task, not from the run's state alone."""
    from airflow.sdk import timezone
    from airflow.utils.state import DagRunState

    run = dag.test(logical_date=timezone.utcnow(), run_conf=conf)
    return run is not None and run.state != DagRunState.FAILED


def remove_batch_job_leftovers() -> list[str]:
    """A daily job keeps its cluster and task definition between runs; the demo removes them."""
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


def summarize(started: float, removed: list[str]) -> int:
    from airflow.models.dagrun import DagRun
    from airflow.models.log import Log
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from fargate_local.leftovers import ecs_leftovers
    from fargate_provider.hooks.fargate import FargateHook

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
                passed, not_checked = preflight["passed"], preflight["not_checked"]
                print(
                    f"  preflight: {len(passed)} checks passed, {len(not_checked)} not checked "
                    f"({'; '.join(not_checked)})"
                )
            report = xcom.get(("report", "return_value"))
            if report:
                print(
                    f"  created: cluster {report['cluster']}, service {report['service']} "
                    f"({report['running']} tasks running), task definition {report['task_definition']}, "
                    f"{report['subnets']} subnets, expires {report['expires_at']}"
                )
                print(f"  estimated cost while it runs: ${report['estimated_usd_per_hour']}/hour")
                where = " (inside the VPC only)" if report.get("expose") == "none" else f" ({report.get('expose')})"
                print(f"  URL: {', '.join(report.get('urls') or []) or 'none'}{where}")
            service = tis.get("create_service")
            if service is not None and service.start_date and service.end_date and str(service.state) == "success":
                # The wait deferred if the metadata DB's event log says so (the airflow.cfg of a new home
                # once made it wait in the worker, unnoticed).
                deferred = session.query(Log).filter_by(
                    dag_id=run.dag_id, run_id=run.run_id, task_id="create_service", event="deferred"
                )
                where = "waited in the triggerer" if deferred.count() else "waited in the worker"
                print(
                    f"  time to stable (create → strict stable check, {where}): "
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
                        f"  estimated cost: ${cost['usd']:.6f} ({cost['vcpu_seconds']:.0f} vCPU-s, "
                        f"{cost['gb_seconds']:.0f} GB-s, {cost['billed_seconds']} s billed, "
                        f"{cost['region']} {cost['architecture']})"
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
    code = main()
    # Skip the interpreter's teardown of Airflow's objects (seconds of freeing memory): the emulator
    # has stopped, the DB sessions are closed; only the output is left to flush.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
