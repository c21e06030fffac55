"""`make demo`: run the provider's main job end to end against a local AWS, no account needed.

Today that is the lifecycle of an environment (cluster, task definition, a service waited
on until stable, then their teardown) run by Airflow (`dag.test()`, real metadata DB) against the local ECS emulator
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
DAG_ID = "fargate_example_service"


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


def run_demo(started: float, server) -> int:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils import db
    from airflow.utils.session import create_session

    from fargate_provider.hooks.fargate import FargateHook

    db.resetdb()
    bag = DagBag(str(ROOT / "dags"))
    if bag.import_errors:
        print("DAG import errors:", bag.import_errors)
        return 1
    dag = bag.get_dag(DAG_ID)
    print(f"running {DAG_ID} with dag.test() ...")
    network = server.network
    dag_run = dag.test(
        run_conf={"subnets": network["private_subnets"], "security_groups": [network["security_group"]], "desired_count": 2}
    )

    with create_session() as session:
        tis = {ti.task_id: ti for ti in dag_run.get_task_instances(session=session)}
        xcoms = {
            row.task_id: XComModel.deserialize_value(row)
            for row in session.query(XComModel).filter_by(dag_id=DAG_ID, run_id=dag_run.run_id, key="return_value")
        }
    hook = FargateHook(aws_conn_id="aws_default")
    print("\n== summary ==")
    for task_id in (
        "create_cluster",
        "register_task_definition",
        "create_service",
        "describe_resources",
        "delete_service",
        "deregister_task_definition",
        "delete_cluster",
    ):
        print(f"  {task_id:28} {tis[task_id].state!s:8}" + ("" if task_id == "describe_resources" else f" -> {xcoms.get(task_id)}"))
    found = xcoms.get("describe_resources") or {}
    for kind, details in found.items():
        print(f"  {kind} while it existed: {details}")
    create_service = tis["create_service"]
    if create_service.start_date and create_service.end_date:
        seconds = (create_service.end_date - create_service.start_date).total_seconds()
        print(f"  service created and stable (strict check) in {seconds:.1f} s")
    cluster = hook.describe_cluster("fargate-cluster")
    print(f"  cluster fargate-cluster status now {cluster and cluster['status']}")

    left = leftovers(hook)
    print(f"  resources left in local AWS: {len(left)} {left or ''}")
    print(f"  demo took {time.monotonic() - started:.1f} s")
    failed = [t for t, ti in tis.items() if str(ti.state) not in ("success", "TaskInstanceState.SUCCESS")]
    if str(dag_run.state) not in ("success", "DagRunState.SUCCESS") or failed or left:
        print(f"DEMO FAILED: run {dag_run.state}, failed tasks {failed}, leftovers {left}")
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
