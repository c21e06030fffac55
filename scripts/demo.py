"""`make demo`: run the provider's main job end to end against a local AWS, no account needed.

Today that is the lifecycle of an environment (cluster, task definition, a service waited
on until stable, then their teardown) and a batch run (a one-off task, its logs, exit codes
and cost), both run by Airflow (`dag.test()`, real metadata DB) against the local ECS emulator
(`fargate_provider.local`). It exits non-zero if any task failed or anything is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_HOME = ROOT / ".demo" / "airflow"


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(DEMO_HOME, ignore_errors=True)
    DEMO_HOME.mkdir(parents=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(DEMO_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    from fargate_provider.local.server import LocalEcs

    server = LocalEcs(port=0).start()
    endpoint = server.endpoint
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    )
    print(f"local ECS emulator (fargate-local) at {endpoint}; Airflow home {DEMO_HOME}")
    try:
        return run_demo(started, server)
    finally:
        server.stop()


def run_dag(bag, dag_id: str, conf: dict) -> tuple[object, dict, dict]:
    """Run one DAG with dag.test(); return the run, its task instances and their XComs by key."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    print(f"\nrunning {dag_id} with dag.test() ...", flush=True)
    dag_run = bag.get_dag(dag_id).test(run_conf=conf)
    with create_session() as session:
        tis = {ti.task_id: ti for ti in dag_run.get_task_instances(session=session)}
        xcoms: dict = {}
        for row in session.query(XComModel).filter_by(dag_id=dag_id, run_id=dag_run.run_id):
            xcoms.setdefault(row.key, {})[row.task_id] = XComModel.deserialize_value(row)
    return dag_run, tis, xcoms


def succeeded(state: object) -> bool:
    return str(getattr(state, "value", state)) == "success"


def run_demo(started: float, server) -> int:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from fargate_provider.hooks.fargate import FargateHook

    db.resetdb()
    bag = DagBag(str(ROOT / "dags"))
    if bag.import_errors:
        print("DAG import errors:", bag.import_errors)
        return 1
    network = {"subnets": server.network["private_subnets"], "security_groups": [server.network["security_group"]]}
    problems = []

    env_run, env_tis, env_xcom = run_dag(bag, "fargate_example_service", {**network, "desired_count": 2})
    batch_run, batch_tis, batch_xcom = run_dag(bag, "fargate_example_batch", network)

    hook = FargateHook(aws_conn_id="aws_default")
    print("\n== summary ==")
    print("environment (fargate_example_service):")
    for task_id, ti in env_tis.items():
        print(f"  {task_id:28} {ti.state!s:8}")
        problems += [f"fargate_example_service.{task_id}"] if not succeeded(ti.state) else []
    for kind, details in (env_xcom.get("return_value", {}).get("describe_resources") or {}).items():
        print(f"  {kind} while it existed: {details}")
    create_service = env_tis["create_service"]
    if create_service.start_date and create_service.end_date:
        seconds = (create_service.end_date - create_service.start_date).total_seconds()
        print(f"  time to stable (strict check, deferred wait): {seconds:.1f} s")
    print("batch run (fargate_example_batch):")
    for task_id, ti in batch_tis.items():
        print(f"  {task_id:28} {ti.state!s:8}")
        problems += [f"fargate_example_batch.{task_id}"] if not succeeded(ti.state) else []
    for arn in batch_xcom.get("return_value", {}).get("run_task") or []:
        task = (hook.describe_tasks("fargate-batch", [arn]) or [{}])[0]
        codes = {c.get("name"): c.get("exitCode") for c in task.get("containers", [])}
        print(f"  task {arn.rsplit('/', 1)[-1]}: {task.get('lastStatus')}, {task.get('stopCode')}, exit codes {codes}")
    cost = batch_xcom.get("cost", {}).get("run_task")
    if cost:
        print(
            f"  estimated cost: {cost['vcpu_seconds']:.0f} vCPU-s, {cost['gb_seconds']:.0f} GB-s, "
            f"${cost['usd']:.6f} ({cost['region']}, {cost['architecture']}, {cost['billed_seconds']} s billed)"
        )
    else:
        problems.append("no cost reported")

    left = leftovers(hook)
    print(f"resources left in the emulator: {len(left)} {left or ''}")
    print(f"demo took {time.monotonic() - started:.1f} s")
    if not succeeded(env_run.state) or not succeeded(batch_run.state) or problems or left:
        print(f"DEMO FAILED: {problems or ''} {left or ''}")
        return 1
    print("demo OK")
    return 0


def leftovers(hook) -> list[str]:
    conn = hook.conn
    left = []
    arns = conn.list_clusters()["clusterArns"]
    for cluster in conn.describe_clusters(clusters=arns)["clusters"] if arns else []:
        if cluster["status"] != "INACTIVE":
            left.append(cluster["clusterArn"])
    left += conn.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]
    return left


if __name__ == "__main__":
    sys.exit(main())
