"""What every operator of this provider shares: the AWS connection and the hook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator

from fargate_provider.hooks.fargate import FargateHook

if TYPE_CHECKING:
    from fargate_provider.preflight import PreflightReport


class InputErrorsFailFastMixin:
    """Input errors fail the task at once, naming what is wrong.

    - Template fields are rendered one by one, so a template that raises (an undefined name, a
      division by zero, …) fails the task with ``TemplateFieldError`` naming the field and the
      template, not with a bare Jinja exception.
    - An ``InputError`` that leaves ``execute``, ``execute_complete`` or ``poke`` (a task definition
      against ECS's rules, an argument, a setting) leaves it as ``FargateInputError``: an
      ``AirflowFailException``, so no retry is spent on input that can never pass.
    """

    _FAIL_FAST_METHODS = ("execute", "execute_complete", "poke")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        from fargate_provider.exceptions import fail_fast_on_input_errors

        for name in cls._FAIL_FAST_METHODS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_fails_fast", False):
                wrapped = fail_fast_on_input_errors(method)
                wrapped._fails_fast = True
                setattr(cls, name, wrapped)

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


class FargateBaseOperator(InputErrorsFailFastMixin, AwsBaseOperator[FargateHook]):
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

    .. seealso:: :doc:`/guides/aws`
    """

    aws_hook_class = FargateHook
    ui_color = "#f3c89f"


def require_preflight(hook: Any, log: Any, **kwargs: Any) -> PreflightReport:
    """run_preflight for an operator's ``preflight=True``: raise PreflightError on any problem, else log the report."""
    from fargate_provider.exceptions import PreflightError
    from fargate_provider.preflight import run_preflight

    report = run_preflight(hook, **kwargs)
    if not report.ok:
        raise PreflightError(report)
    log.info("%s", report.text())
    return report


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` where a deployment set it; otherwise True."""
    import os
    from configparser import ConfigParser

    from airflow.configuration import conf

    explicitly_set = "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE" in os.environ or ConfigParser.has_option(
        conf, "operators", "default_deferrable"
    )
    return conf.getboolean("operators", "default_deferrable", fallback=True) if explicitly_set else True
