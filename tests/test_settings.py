"""Every setting in one place: fargate_provider.settings lists each [fargate] config option and each
Airflow Variable with its default, type and meaning; the rest of the code reads them from there."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from fargate_provider import settings
from fargate_provider.get_provider_info import get_provider_info
from fargate_rules.input_errors import InputError

ROOT = Path(__file__).resolve().parent.parent
# How code reads a Variable or a config option by its name.
READS = (
    re.compile(r"""Variable\.get\(\s*["']([^"']+)["']"""),
    re.compile(r"""var\.value\.get\(\s*'([^']+)'"""),
    re.compile(r"""AIRFLOW_VAR_([A-Z0-9_]+)"""),
    re.compile(r"""conf\.get\w*\(\s*["']fargate["'],\s*["']([^"']+)["']"""),
    re.compile(r"""AIRFLOW__FARGATE__([A-Z0-9_]+)"""),
)


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / line for line in out.stdout.splitlines() if (ROOT / line).is_file()]


def test_every_setting_has_a_default_a_type_and_a_meaning():
    names = [s.name for s in settings.SETTINGS]
    assert len(names) == len(set(names)) == 18  # 6 config options, 12 Variables
    for setting in settings.SETTINGS:
        assert setting.type and len(setting.meaning) > 30, setting
        assert setting.kind in ("config option", "Variable")
    assert {s.name for s in settings.CONFIG_OPTIONS} == {
        "resume_not_before_seconds",
        "wait_in_worker_seconds",
        "log_reads_per_second",
        "live_logs",
        "events_queue_url",
        "events_reconcile_seconds",
    }


def test_the_providers_manager_lists_the_config_options_from_the_settings():
    options = get_provider_info()["config"]["fargate"]["options"]
    assert set(options) == {o.name for o in settings.CONFIG_OPTIONS}
    for option in settings.CONFIG_OPTIONS:
        default = option.default
        expected = None if default is None else str(default) if isinstance(default, bool) else f"{default:g}"
        assert options[option.name]["default"] == expected
        assert options[option.name]["description"] == option.meaning


def test_every_variable_or_option_the_code_reads_is_a_listed_setting():
    """A Variable or option read anywhere (provider, DAGs, plugins, scripts, compose) is in settings.py,
    and no module but settings.py spells a setting's name: the others read it from there."""
    known = {s.name for s in settings.SETTINGS}
    read: dict[str, set[str]] = {}
    files = _tracked("provider/*.py", "dags/*", "plugins/*", "scripts/*", "docker-compose.yaml")
    assert len(files) > 40
    for path in files:
        if path.name == "settings.py":  # where the names are defined, and read generically
            continue
        text = path.read_text(errors="replace")
        for pattern in READS:
            for name in pattern.findall(text):
                read.setdefault(name.lower(), set()).add(str(path.relative_to(ROOT)))
    unknown = {name: where for name, where in read.items() if name not in known}
    assert not unknown, f"read but not in fargate_provider/settings.py: {unknown}"
    spelled = {
        str(path.relative_to(ROOT)): name
        for path in _tracked("provider/*.py")
        if path.name != "settings.py"
        for name in known
        if re.search(rf"""["']{name}["']""", path.read_text())
    }
    assert not spelled, f"setting names spelled outside settings.py: {spelled}"


def test_a_config_option_reads_airflows_config_and_falls_back_on_its_default(monkeypatch):
    monkeypatch.delenv("AIRFLOW__FARGATE__LOG_READS_PER_SECOND", raising=False)
    assert settings.LOG_READS_PER_SECOND.get() == 10.0
    monkeypatch.setenv("AIRFLOW__FARGATE__LOG_READS_PER_SECOND", "4.5")
    assert settings.LOG_READS_PER_SECOND.get() == 4.5


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("LOG_READS_PER_SECOND", "0", "[fargate] log_reads_per_second: 0 is not allowed; give a number of reads a "),
        ("RESUME_NOT_BEFORE_SECONDS", "-1", "[fargate] resume_not_before_seconds: -1 is not allowed; give a number"),
        ("RESUME_NOT_BEFORE_SECONDS", "soon", "[fargate] resume_not_before_seconds: 'soon' is not a number"),
    ],
)
def test_a_config_option_out_of_range_is_an_input_error_naming_it(monkeypatch, option, value, message):
    monkeypatch.setenv(f"AIRFLOW__FARGATE__{option}", value)
    with pytest.raises(InputError) as caught:
        getattr(settings, option).get()
    assert str(caught.value).startswith(message)


def test_a_json_variables_default_is_parsed_like_its_value(monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_FARGATE_BATCH_JOB", raising=False)
    assert settings.BATCH_JOB.get() == {}
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_BATCH_JOB", '{"schedule": "@hourly"}')
    assert settings.BATCH_JOB.get() == {"schedule": "@hourly"}


def test_the_operators_template_reads_the_variable_with_its_default():
    assert settings.AWS_CONN_ID.template() == "{{ var.value.get('fargate_aws_conn_id', 'aws_default') }}"


def test_the_settings_table_has_a_row_per_setting():
    table = settings.settings_table_markdown()
    rows = table.strip().splitlines()[2:]
    assert len(rows) == len(settings.SETTINGS)
    for row, setting in zip(rows, settings.SETTINGS, strict=True):
        assert setting.name in row and setting.meaning in row


def test_the_settings_page_holds_the_table_the_module_makes():
    """docs/guides/settings.md keeps a copy for readers on GitHub (make docs writes it afresh)."""
    page = (ROOT / "docs" / "guides" / "settings.md").read_text()
    start, end = page.index("<!-- settings-table -->"), page.index("<!-- /settings-table -->")
    assert page[start:end].split("\n", 1)[1].strip() == settings.settings_table_markdown().strip()


def test_the_events_queue_is_unset_by_default_and_a_wrong_url_is_refused_naming_the_option(monkeypatch):
    monkeypatch.delenv("AIRFLOW__FARGATE__EVENTS_QUEUE_URL", raising=False)
    assert settings.EVENTS_QUEUE_URL.get() is None
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/fargate-ecs-events"
    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_QUEUE_URL", url)
    assert settings.EVENTS_QUEUE_URL.get() == url
    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_QUEUE_URL", "arn:aws:sqs:eu-west-1:123456789012:fargate-ecs-events")
    with pytest.raises(
        InputError, match=r"^\[fargate\] events_queue_url: 'arn:aws:sqs:.*' is not allowed; give a queue URL"
    ):
        settings.EVENTS_QUEUE_URL.get()


def test_live_logs_is_off_by_default_and_a_wrong_value_is_refused_naming_the_option(monkeypatch):
    monkeypatch.delenv("AIRFLOW__FARGATE__LIVE_LOGS", raising=False)
    assert settings.LIVE_LOGS.get() is False
    monkeypatch.setenv("AIRFLOW__FARGATE__LIVE_LOGS", "True")
    assert settings.LIVE_LOGS.get() is True
    monkeypatch.setenv("AIRFLOW__FARGATE__LIVE_LOGS", "sometimes")
    with pytest.raises(InputError, match=r"\[fargate\] live_logs: 'sometimes' is not allowed; give True or False"):
        settings.LIVE_LOGS.get()
