"""What every operator of this provider shares: the AWS connection and the hook."""

from __future__ import annotations

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator

from fargate_provider.hooks.fargate import FargateHook


class FargateBaseOperator(AwsBaseOperator[FargateHook]):
    """aws_conn_id, region_name, verify and botocore_config, handled as the amazon provider does."""

    aws_hook_class = FargateHook
    ui_color = "#f3c89f"


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` where a deployment set it; otherwise True."""
    import os
    from configparser import ConfigParser

    from airflow.configuration import conf

    explicitly_set = "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE" in os.environ or ConfigParser.has_option(
        conf, "operators", "default_deferrable"
    )
    return conf.getboolean("operators", "default_deferrable", fallback=True) if explicitly_set else True
