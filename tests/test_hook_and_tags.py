"""FargateHook's AWS client settings, and the provider's tags."""

from __future__ import annotations

import json
import os
from unittest import mock

import pytest

from fargate_provider.hooks.fargate import FargateHook
from fargate_provider.utils.tags import (
    TagError,
    provider_tags,
    tags_from_context,
    validate_user_tags,
)
from fargate_rules.arns import revision_of


def _with_connection(extra):
    return mock.patch.dict(os.environ, {"AIRFLOW_CONN_RETRY_TEST": json.dumps({"conn_type": "aws", "extra": extra})})


def test_hook_uses_botocores_standard_retry_mode_by_default(airflow_db):
    with _with_connection({"region_name": "eu-west-1"}):
        hook = FargateHook(aws_conn_id="retry_test")
        assert hook.config.retries == {"mode": "standard", "total_max_attempts": 10}
        assert hook.conn.meta.region_name == "eu-west-1"


def test_connection_config_kwargs_win_over_the_default(airflow_db):
    with _with_connection({"config_kwargs": {"retries": {"mode": "adaptive", "max_attempts": 3}}}):
        hook = FargateHook(aws_conn_id="retry_test")
        assert hook.config.retries == {"mode": "adaptive", "max_attempts": 3}


def test_endpoint_url_extra_points_the_client_at_it(airflow_db):
    with _with_connection({"endpoint_url": "http://127.0.0.1:1", "region_name": "us-east-1"}):
        assert FargateHook(aws_conn_id="retry_test").conn.meta.endpoint_url == "http://127.0.0.1:1"


def test_revision_of():
    assert revision_of("arn:aws:ecs:us-east-1:1:task-definition/web:12") == 12
    assert revision_of("web") == 0


def test_provider_tags_are_added_and_cleaned():
    tags = provider_tags("my_dag", "manual__2026-11-28T10:00:00+00:00", {"team": "x"})
    assert tags == {
        "team": "x",
        "managed-by": "airflow-provider-fargate",
        "airflow-dag-id": "my_dag",
        "airflow-run-id": "manual__2026-11-28T10:00:00+00:00",
    }
    # characters ECS refuses in tag values are replaced, not sent
    assert provider_tags("d", "run|with#odd chars")["airflow-run-id"] == "run_with_odd chars"


def test_tags_from_context_reads_the_task_instance():
    ti = mock.Mock(dag_id="d", run_id="r")
    assert tags_from_context({"ti": ti})["airflow-run-id"] == "r"


@pytest.mark.parametrize("tags", [["a"], {"": "x"}, {"k" * 129: "v"}, {f"k{i}": "v" for i in range(48)}])
def test_user_tags_outside_ecs_limits_are_refused(tags):
    with pytest.raises(TagError, match="tags"):
        validate_user_tags(tags)
