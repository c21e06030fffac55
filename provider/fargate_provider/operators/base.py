"""What every operator of this provider shares: the AWS connection and the hook."""

from __future__ import annotations

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator

from fargate_provider.hooks.fargate import FargateHook


class NamedTemplateErrorsMixin:
    """Render template fields one by one, so a template that raises (an undefined name, a
    division by zero, …) fails the task naming the field and the template, not with a bare
    Jinja exception."""

    def render_template_fields(self, context, jinja_env=None) -> None:
        from airflow.sdk._shared.secrets_masker import redact

        from fargate_provider.exceptions import TemplateFieldError

        jinja_env = jinja_env or self.get_template_env()  # type: ignore[attr-defined]
        for field in self.template_fields:  # type: ignore[attr-defined]
            template = getattr(self, field, None)
            try:
                self._do_render_template_fields(self, [field], context, jinja_env, set())  # type: ignore[attr-defined]
            except Exception as err:
                shown = str(redact(template))
                shown = shown if len(shown) <= 200 else shown[:200] + "…"
                raise TemplateFieldError(
                    f"{field}: its template failed to render ({type(err).__name__}: {err}); template: {shown}"
                ) from None


class FargateBaseOperator(NamedTemplateErrorsMixin, AwsBaseOperator[FargateHook]):
    """aws_conn_id, region_name, verify and botocore_config, handled as the amazon provider does.

    Every operator of this provider takes these (through ``AwsBaseOperator``) and builds its
    ``FargateHook`` from them; the deferrable ones carry all four into the triggerer.

    :param aws_conn_id: the Airflow connection to AWS. Default ``aws_default``; None or empty:
        boto3's default credential chain (which must then be set up on every worker).
    :param region_name: AWS region; None: the connection's (or boto3's default).
    :param verify: SSL certificate verification: ``False`` to skip it, or the path of a CA
        bundle; None: the connection's (or boto3's default).
    :param botocore_config: keyword arguments of ``botocore.config.Config`` (timeouts, retries,
        proxies) for the boto3 clients.
    :param region: accepted only for Airflow's ``.partial`` signature check and otherwise
        ignored; use ``region_name``.

    .. seealso:: README, "Going to AWS".
    """

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
