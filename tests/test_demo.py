"""`make demo` (scripts/demo.py) end to end: its three DAG runs (dag.test, in one process) and the summary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_succeeds_and_leaves_nothing():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_ENDPOINT"))}
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = (
        completed.stdout[completed.stdout.index("== summary ==") :]
        if "== summary ==" in completed.stdout
        else completed.stdout[-3000:]
    )
    assert completed.returncode == 0, summary + completed.stderr[-3000:]
    assert "[error" not in completed.stdout + completed.stderr
    runs = [line.split(":")[0] for line in summary.splitlines() if line.startswith("fargate_")]
    assert runs == [
        "fargate_ephemeral_environment (create)",
        "fargate_batch_job (run)",
        "fargate_ephemeral_environment (destroy)",
    ]
    assert "fargate_ephemeral_environment (create): success" in summary
    assert "created: cluster env-demo, service demo (2/2 tasks running), task definition env-demo:1" in summary
    assert "time to stable (create → strict stable check, waited in the triggerer)" in summary
    assert "fargate_batch_job (run): success" in summary and "exit codes {'job': 0}" in summary
    # what the batch job's command (sh -c "echo processing; echo done") prints, in the task log, in order
    output = completed.stdout
    assert "[job] processing" in output and output.index("[job] processing") < output.index("[job] done")
    assert "estimated cost: $0.000206" in summary
    assert "fargate_ephemeral_environment (destroy): success" in summary
    assert "resources left in the emulator: 0" in summary and summary.rstrip().endswith("demo OK")
