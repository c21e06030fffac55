"""The README's DAG example is a DAG: Airflow's DagBag parses it, with the task ids the README shows,
and parsing it calls no AWS API and needs no metadata DB (so ``make test-fast`` runs it)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def readme_dag_source() -> str:
    blocks = [block for block in PYTHON_BLOCK.findall(README.read_text(encoding="utf-8")) if "DAG(" in block]
    assert len(blocks) == 1, f"expected one python block with a DAG in README.md, found {len(blocks)}"
    return blocks[0]


def test_the_readme_example_parses_as_a_dag_without_aws_calls(tmp_path, no_aws):
    from airflow.dag_processing.dagbag import DagBag

    from tests.helpers.aws import record_aws_calls

    (tmp_path / "readme_example.py").write_text(readme_dag_source(), encoding="utf-8")
    with record_aws_calls() as calls:
        bag = DagBag(str(tmp_path))
    assert bag.import_errors == {}
    assert bag.dag_ids == ["hello_fargate"]
    dag = bag.dags["hello_fargate"]  # not get_dag(), which asks the metadata DB: parsing needs none
    assert set(dag.task_ids) == {"create_cluster", "register", "run"}
    assert dag.get_task("run").upstream_task_ids == {"create_cluster", "register"}
    assert calls.calls == []
