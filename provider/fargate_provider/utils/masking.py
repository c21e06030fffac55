"""Container environment values whose names look secret (Airflow's own sensitive-name rules:
``password``, ``secret``, ``token``, ``api_key``, … and ``[core] sensitive_var_conn_names``) are
handed to Airflow's secrets masker, so logs and rendered fields show ``***`` instead. Real secrets
belong in the task definition's ``secrets`` (SSM / Secrets Manager), which hold references only."""

from __future__ import annotations

from typing import Any


def mask_container_environment(document: Any) -> None:
    """Mask the sensitive-named ``environment`` values of a task definition's
    ``containerDefinitions`` or a RunTask ``overrides``' ``containerOverrides``."""
    if not isinstance(document, dict):
        return
    from airflow.sdk.log import mask_secret

    for key in ("containerDefinitions", "containerOverrides"):
        for container in document.get(key) or []:
            for variable in (container.get("environment") or []) if isinstance(container, dict) else []:
                if (
                    isinstance(variable, dict)
                    and isinstance(variable.get("value"), str)
                    and isinstance(variable.get("name"), str)
                ):
                    mask_secret(variable["value"], variable["name"])  # masked only if the name is sensitive
