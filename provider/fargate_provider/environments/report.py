"""The ephemeral environment's ``report`` task: a Python callable that returns the environment's
summary, on an operator that carries the "Environment URL" extra link.

A link must be declared on the operator (``operator_extra_links``): the worker resolves only
those when the task ends, and DAG serialization keeps them (name → XCom key) for the UI.
A global (plugin) link would instead run for every task of every DAG.
"""

from __future__ import annotations

from airflow.providers.standard.operators.python import PythonOperator

from fargate_provider.links.environment import EnvironmentUrlLink


class EnvironmentReportOperator(PythonOperator):
    """Runs ``python_callable`` like PythonOperator; its return value's ``urls`` become the link."""

    operator_extra_links = (EnvironmentUrlLink(),)
