"""Every setting of the provider in one place: the ``[fargate]`` config options and the Airflow
Variables, each with its default, type and meaning.

The rest of the provider reads them through this module (``RESUME_NOT_BEFORE_SECONDS.get()``,
``AWS_CONN_ID.get()``); ``get_provider_info`` publishes the config options from it, and the docs'
settings table is generated from it (``settings_table_markdown``). Nothing here imports Airflow at
module level: reading a value imports it then.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fargate_rules.input_errors import InputError

SECTION = "fargate"
_NO_DEFAULT = object()


@dataclass(frozen=True)
class ConfigOption:
    """An option of Airflow's config, in section ``[fargate]`` (``AIRFLOW__FARGATE__NAME`` in the environment)."""

    name: str
    default: float
    unit: str  # what the number counts, for the error message
    meaning: str
    minimum: float = 0.0
    minimum_allowed: bool = True  # False: the value must be above ``minimum``
    type: str = "float"
    kind: str = "config option"

    def check(self, value: float) -> float:
        """The value, or an ``InputError`` naming the option and what is allowed."""
        if value < self.minimum or (value == self.minimum and not self.minimum_allowed):
            allowed = f"{self.minimum:g} or more" if self.minimum_allowed else f"above {self.minimum:g}"
            raise InputError(
                f"[{SECTION}] {self.name}: {value:g} is not allowed; give a number of {self.unit} {allowed}"
            )
        return value

    def get(self) -> float:
        from airflow.configuration import conf
        from airflow.exceptions import AirflowConfigException

        try:
            value = conf.getfloat(SECTION, self.name, fallback=self.default)
        except AirflowConfigException:  # not a number
            raise InputError(f"[{SECTION}] {self.name}: {conf.get(SECTION, self.name)!r} is not a number") from None
        return self.check(value)

    def provider_info(self) -> dict[str, Any]:
        """The option as Airflow's providers manager lists it (``airflow config list``)."""
        return {
            "description": self.meaning,
            "version_added": "0.1.0",
            "type": self.type,
            "example": f"{self.default:g}",
            "default": f"{self.default:g}",
        }


@dataclass(frozen=True)
class ConfigText:
    """A text option of Airflow's config, in section ``[fargate]``; unset by default."""

    name: str
    meaning: str
    pattern: str  # what a value must match (a regular expression)
    allowed: str  # what is allowed, in words, for the error message
    default: None = None
    type: str = "string"
    kind: str = "config option"

    def get(self) -> str | None:
        import re

        from airflow.configuration import conf

        value = (conf.get(SECTION, self.name, fallback="") or "").strip()
        if not value:
            return None
        if not re.fullmatch(self.pattern, value):
            raise InputError(f"[{SECTION}] {self.name}: {value!r} is not allowed; give {self.allowed}")
        return value

    def provider_info(self) -> dict[str, Any]:
        return {
            "description": self.meaning,
            "version_added": "0.1.0",
            "type": self.type,
            "example": None,
            "default": None,
        }


@dataclass(frozen=True)
class ConfigFlag:
    """An on/off option of Airflow's config, in section ``[fargate]``."""

    name: str
    meaning: str
    default: bool = False
    type: str = "boolean"
    kind: str = "config option"

    def get(self) -> bool:
        from airflow.configuration import conf

        value = (conf.get(SECTION, self.name, fallback="") or "").strip().lower()
        if not value:
            return self.default
        if value in ("true", "t", "1", "yes", "on"):
            return True
        if value in ("false", "f", "0", "no", "off"):
            return False
        raise InputError(f"[{SECTION}] {self.name}: {value!r} is not allowed; give True or False")

    def provider_info(self) -> dict[str, Any]:
        return {
            "description": self.meaning,
            "version_added": "0.1.0",
            "type": self.type,
            "example": "True",
            "default": str(self.default),
        }


@dataclass(frozen=True)
class VariableSetting:
    """An Airflow Variable the DAGs, the environments page or the provider read when a task runs."""

    name: str
    meaning: str
    default: str | None = None
    type: str = "string"
    json: bool = False
    kind: str = "Variable"

    def get(self, default: Any = _NO_DEFAULT) -> Any:
        """The Variable's value (parsed when it is JSON), else ``default``, else this setting's default."""
        from airflow.sdk import Variable

        fallback = self.default if default is _NO_DEFAULT else default
        if self.json and isinstance(fallback, str):
            fallback = json.loads(fallback)
        return Variable.get(self.name, default=fallback, deserialize_json=self.json)

    def template(self) -> str:
        """A Jinja expression for a templated operator argument, read when the task runs."""
        return "{{ var.value.get('" + self.name + "', '" + (self.default or "") + "') }}"


RESUME_NOT_BEFORE_SECONDS = ConfigOption(
    "resume_not_before_seconds",
    15.0,
    "seconds,",
    "No trigger of this provider fires sooner than this many seconds after its task deferred. "
    "Airflow 3.3 can fail a task whose trigger fires soon after the deferral (apache/airflow#72716); "
    "0 turns the guard off (safe where no executor runs the task, as in dag.test()).",
)
WAIT_IN_WORKER_SECONDS = ConfigOption(
    "wait_in_worker_seconds",
    15.0,
    "seconds,",
    "A deferrable service wait (create, update, delete) first waits this long in the worker, polling "
    "from 1 s up to its poll interval, and defers to the triggerer only if it goes on: a deferred "
    "wait resumes no sooner than resume_not_before_seconds, so a wait over sooner is done without "
    "that trip. 0 defers at once.",
)
LOG_READS_PER_SECOND = ConfigOption(
    "log_reads_per_second",
    10.0,
    "reads a second",
    "GetLogEvents calls a second that the triggers of one connection and logs region make together "
    "while following container logs (turns taken in order). CloudWatch Logs allows 25 a second per "
    "account and Region, a quota that cannot be raised; the rest is left to workers and other tools.",
    minimum_allowed=False,
)
EVENTS_QUEUE_URL = ConfigText(
    "events_queue_url",
    "The Amazon SQS queue that an EventBridge rule fills with ECS's events (ECS Task State Change, ECS "
    "Service Action, ECS Deployment State Change): the triggerer reads it and a wait looks at ECS when an event "
    "concerns it, polling only every events_reconcile_seconds as a safety net. Unset: waits poll at their "
    "interval.",
    pattern=r"https?://\S+/\d{12}/[\w-]{1,80}(\.fifo)?",
    allowed="a queue URL, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/fargate-ecs-events",
)
EVENTS_RECONCILE_SECONDS = ConfigOption(
    "events_reconcile_seconds",
    300.0,
    "seconds",
    "With events_queue_url set: how often a wait still looks at ECS without an event (never more often "
    "than its own poll interval), so a lost or late event delays its end by at most this.",
    minimum_allowed=False,
)
LIVE_LOGS = ConfigFlag(
    "live_logs",
    "Container lines reach a deferred task's log through CloudWatch Logs Live Tail: the triggerer keeps one "
    "StartLiveTail session per connection, Region and up to 10 log groups, shared by every wait, and a line shows "
    "about a second after it is written. GetLogEvents still reads every stream (at log_reads_per_second, less "
    "often), so the task log has every line exactly once even when Live Tail samples. Sessions are billed per "
    "minute; needs logs:StartLiveTail. Off: lines come from GetLogEvents alone.",
)

AWS_CONN_ID = VariableSetting(
    "fargate_aws_conn_id",
    "The Airflow connection to AWS that the DAGs and the environments page use.",
    default="aws_default",
)
EXECUTION_ROLE_ARN = VariableSetting(
    "fargate_execution_role_arn",
    "The task execution role (ARN or name) that task definitions get; unset: the account's ecsTaskExecutionRole.",
)
TASK_ROLE_ARN = VariableSetting(
    "fargate_task_role_arn",
    "The task role (ARN or name) that task definitions get when the form or the DAG gives none; unset: none.",
)
PRIVATE_SUBNETS = VariableSetting(
    "fargate_private_subnets",
    "Subnets for subnet kind private (a JSON list or comma-separated IDs); unset: subnets tagged "
    "fargate:subnet-kind=private.",
    type="list of IDs",
)
PUBLIC_SUBNETS = VariableSetting(
    "fargate_public_subnets",
    "Subnets for subnet kind public (a JSON list or comma-separated IDs); unset: subnets tagged "
    "fargate:subnet-kind=public.",
    type="list of IDs",
)
SECURITY_GROUPS = VariableSetting(
    "fargate_security_groups",
    "Security groups of the tasks (a JSON list or comma-separated IDs); unset: groups tagged "
    "fargate:security-group=tasks.",
    type="list of IDs",
)
ENVIRONMENTS_LISTENER_ARN = VariableSetting(
    "fargate_environments_listener_arn",
    "The ALB listener whose host rules route to environments exposed with expose=load_balancer.",
)
ENVIRONMENTS_DOMAIN = VariableSetting(
    "fargate_environments_domain",
    "The domain whose wildcard record points at that ALB: an environment NAME answers at NAME.<domain>.",
)
ENVIRONMENTS_AWAKE_HOURS = VariableSetting(
    "fargate_environments_awake_hours",
    "When environments are awake, e.g. 'Mon-Fri 07:00-20:00 Europe/Berlin': outside it the janitor puts them to "
    "sleep (0 tasks; woken by hand). Unset: none is put to sleep.",
)
BATCH_JOB = VariableSetting(
    "fargate_batch_job",
    "The batch DAG's schedule and the defaults its scheduled runs use (image, command, size, family, cluster, "
    "subnet_kind, task_role, retries, retry_delay_seconds, deferrable), read when the DAG file is parsed.",
    default="{}",
    type="JSON object",
    json=True,
)

BATCH_FANOUT = VariableSetting(
    "fargate_batch_fanout",
    "The fan-out DAG's shards run at once at most (max_parallel, default 20: Airflow fixes a mapped task's "
    "max_active_tis_per_dagrun when the file is parsed, so the form cannot change it) and its form's defaults "
    "(image, command, shards, size, capacity, family, cluster, subnet_kind, task_role), read when the DAG file "
    "is parsed.",
    default="{}",
    type="JSON object",
    json=True,
)

ENVIRONMENT_TURNS = VariableSetting(
    "fargate_environment_turns",
    "Written by fargate_ephemeral_environment, not by hand: the run that holds each environment's turn "
    "(runs of one environment wait for each other; runs of different environments go side by side).",
    default="{}",
    type="JSON object",
    json=True,
)

CONFIG_OPTIONS: tuple[ConfigOption | ConfigText | ConfigFlag, ...] = (
    RESUME_NOT_BEFORE_SECONDS,
    WAIT_IN_WORKER_SECONDS,
    LOG_READS_PER_SECOND,
    LIVE_LOGS,
    EVENTS_QUEUE_URL,
    EVENTS_RECONCILE_SECONDS,
)
VARIABLES: tuple[VariableSetting, ...] = (
    AWS_CONN_ID,
    EXECUTION_ROLE_ARN,
    TASK_ROLE_ARN,
    PRIVATE_SUBNETS,
    PUBLIC_SUBNETS,
    SECURITY_GROUPS,
    ENVIRONMENTS_LISTENER_ARN,
    ENVIRONMENTS_DOMAIN,
    ENVIRONMENTS_AWAKE_HOURS,
    BATCH_JOB,
    BATCH_FANOUT,
    ENVIRONMENT_TURNS,
)
SETTINGS: tuple[ConfigOption | ConfigText | ConfigFlag | VariableSetting, ...] = CONFIG_OPTIONS + VARIABLES
SUBNETS = {"private": PRIVATE_SUBNETS, "public": PUBLIC_SUBNETS}


def provider_config() -> dict[str, Any]:
    """The ``config`` part of ``get_provider_info``."""
    return {
        SECTION: {
            "description": "Settings of the Fargate provider.",
            "options": {option.name: option.provider_info() for option in CONFIG_OPTIONS},
        }
    }


def settings_table_markdown() -> str:
    """Every setting as a Markdown table (the docs' settings page is generated from it)."""
    rows = ["| Setting | Kind | Type | Default | Meaning |", "| --- | --- | --- | --- | --- |"]
    for setting in SETTINGS:
        name = (
            f"`[{SECTION}] {setting.name}`"
            if isinstance(setting, ConfigOption | ConfigText | ConfigFlag)
            else f"`{setting.name}`"
        )
        default = setting.default
        shown = (
            "(unset)"
            if default is None
            else f"`{default}`"
            if isinstance(default, bool)
            else f"`{default:g}`"
            if isinstance(default, float)
            else f"`{default}`"
        )
        rows.append(f"| {name} | {setting.kind} | {setting.type} | {shown} | {setting.meaning} |")
    return "\n".join(rows) + "\n"
