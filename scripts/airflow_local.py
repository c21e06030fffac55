"""`make airflow`: the Airflow UI on this machine, running this repo's DAGs against the local emulator.

`airflow standalone` (api-server, scheduler with the LocalExecutor, dag-processor, triggerer;
SQLite in .airflow/) plus `fargate-local serve`, with dags/ and plugins/ from this repo and
`aws_default` pointed at the emulator. Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=ROOT / ".airflow", help="AIRFLOW_HOME (default .airflow)")
    parser.add_argument("--port", type=int, default=8080, help="port of the Airflow UI/API (default 8080)")
    parser.add_argument("--emulator-port", type=int, default=0, help="port of the emulator (default: a free one)")
    args = parser.parse_args()

    def stop(*_):
        raise KeyboardInterrupt

    # Ctrl-C must work even when this was started with SIGINT ignored (a background job of a
    # shell without job control: CI scripts, `cmd &`); a handler, unlike "ignored", is not
    # inherited by the children started below, so Airflow's components get the default again.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    from fargate_local.process import airflow_environment, start_emulator

    args.home.mkdir(parents=True, exist_ok=True)
    emulator = start_emulator(port=args.emulator_port)
    env = airflow_environment(args.home.resolve(), emulator.endpoint, ROOT / "dags", ROOT / "plugins")
    env.update(
        {
            "AIRFLOW__API__PORT": str(args.port),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{args.port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{args.port}/execution/",
            # Waits run in the triggerer, not in a worker slot (Airflow's generated airflow.cfg says false).
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "true",
            # See new or edited DAG files within seconds, not minutes.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            # A worker that waits 5 s (Airflow's default) for a busy API server retries "task started",
            # is told the task is already running, and kills the task with nothing in its log.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        }
    )
    password_file = args.home.resolve() / "simple_auth_manager_passwords.json.generated"
    print(
        f"fargate-local emulator at {emulator.endpoint} (aws_default points at it)\n"
        f"Airflow UI: http://localhost:{args.port}  user admin, password in {password_file} "
        "(also printed below on the first start)",
        flush=True,
    )

    # Its own process group: on the way out, every component and worker goes, not only the parent.
    standalone = subprocess.Popen(
        [str(Path(sys.executable).parent / "airflow"), "standalone"], env=env, cwd=ROOT, start_new_session=True
    )

    try:
        return standalone.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_process_group(standalone)
        emulator.stop()


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGINT first (`airflow standalone` shuts its components down on it), then SIGTERM and
    SIGKILL for whatever is left in the group."""
    for sig, grace in ((signal.SIGINT, 30), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            process.poll()  # reap the parent, so an empty group reads as gone
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
