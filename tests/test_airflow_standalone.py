"""`make airflow` (scripts/airflow_local.py): the real stack, airflow standalone + the emulator.

Triggers fargate_ephemeral_environment through the REST API as the UI's Trigger form does,
and sees the run succeed with its stable-wait deferred to, and resumed from, the triggerer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.airflow_api import AirflowApi
from tests.helpers.aws import ecs_leftovers
from tests.helpers.standalone import DAG_ID, running_stack, stack_errors


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # Every service wait deferred at once, as a create that takes minutes on AWS is: the tests here
    # follow it through the triggerer (`make airflow` waits up to 15 s in the worker first).
    yield from running_stack(tmp_path_factory, {"AIRFLOW__FARGATE__WAIT_IN_WORKER_SECONDS": "0"})


def trigger_and_wait(api: AirflowApi, conf: dict, home: Path, note: str | None = None) -> tuple[str, dict]:
    api.poll(f"{DAG_ID} to be parsed", lambda: api.call("GET", f"/api/v2/dags/{DAG_ID}")[0] == 200, timeout=120)
    assert api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})[0] == 200
    # What the Trigger form posts: the form's fields as conf.
    body = {"logical_date": None, "conf": conf, **({"note": note} if note else {})}
    status, run = api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", body)
    assert status == 200, run
    run_id = run["dag_run_id"]

    def finished():
        _, body = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        return body if isinstance(body, dict) and body.get("state") in ("success", "failed") else None

    final = api.poll(f"run {run_id} to finish", finished, timeout=300, interval=2)
    _, tis = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
    states = {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}
    assert final["state"] == "success", api.explain(DAG_ID, run_id) + "\n" + stack_errors(home)
    # The form cannot name the run (manual__…): the scheduler noted what it does (run_notes), unless
    # the form's note field said something.
    assert run_id.startswith("manual__")
    assert final["note"] == (note or f"{conf.get('action', 'create')} {conf['environment']}")
    return run_id, states


def test_rest_triggered_environment_waits_in_the_triggerer_and_succeeds(stack):
    api, emulator, home = stack
    run_id, states = trigger_and_wait(
        api, {"environment": "from-ui", "desired_count": 2, "subnet_kind": "public"}, home
    )
    assert states["create_service"] == "success" and states["report"] == "success"
    status, log = api.call(
        "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/create_service/logs/1?full_content=true"
    )
    assert status == 200, log
    events = log["content"]
    # The stable wait ran in the triggerer (the trigger's own log lines)...
    trigger_lines = [
        e["event"] for e in events if str(e.get("logger", "")).endswith("triggers.service.FargateServiceTrigger")
    ]
    assert "from-ui: (service from-ui) has reached a steady state." in trigger_lines
    # ...and the task resumed in a worker after it: execute_complete's line comes later.
    messages = [e.get("event") for e in events]
    assert messages.index("Resumed from the triggerer: the wait succeeded.") > messages.index(trigger_lines[-1])
    assert ecs_leftovers(emulator)["services"] == ["from-ui"]
    # The task page's extra links, as the UI fetches them.
    status, links = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/create_service/links")
    assert status == 200, links
    assert links["extra_links"]["ECS service"] == (
        "https://console.aws.amazon.com/ecs/v2/clusters/env-from-ui/services/from-ui/health?region=us-east-1"
    )
    assert links["extra_links"]["ECS cluster"].endswith("/ecs/v2/clusters/env-from-ui/services?region=us-east-1")

    _, states = trigger_and_wait(api, {"environment": "from-ui", "action": "destroy"}, home, note="PR closed")
    assert states["destroy_cluster"] == "success"
    assert ecs_leftovers(emulator) == {}


def test_the_environments_page_needs_a_signed_in_user(stack):
    api, _, _ = stack
    anonymous = AirflowApi(api.base)
    status, body = anonymous.call("GET", "/fargate/api/environments")
    assert status == 401, body
    request = urllib.request.Request(api.base + "/fargate/environments")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(request, timeout=30)
    assert redirect.value.code == 303
    assert redirect.value.headers["Location"].startswith("/auth/login?next=")
    status, body = anonymous.call("POST", "/fargate/api/environments/x1/destroy")
    assert status == 401, body


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """Debian's chromium and chromedriver (installed with apt-get when missing), driven by Selenium."""
    import shutil

    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], check=True, env=env, timeout=900
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


def test_sign_in_see_the_environment_and_destroy_it_in_chromium(stack, chromium):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    api, emulator, home = stack
    trigger_and_wait(api, {"environment": "in-browser", "desired_count": 1}, home)
    assert ecs_leftovers(emulator)["services"] == ["in-browser"]

    # Airflow's navigation offers the page (an external view of the plugin).
    _, plugins = api.call("GET", "/api/v2/plugins")
    views = [v for p in plugins["plugins"] for v in p["external_views"]]
    assert {"name": "Fargate environments", "href": "/fargate/environments"}.items() <= views[0].items()

    wait = WebDriverWait(chromium, 60)
    chromium.get(f"{api.base}/fargate/environments")
    wait.until(shown.url_contains("/auth/login"))  # not signed in: the login page first
    password = json.loads((home / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
    wait.until(shown.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
    chromium.find_element(By.NAME, "password").send_keys(password)
    chromium.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def column(row, name: str):
        return row.find_element(By.CSS_SELECTOR, f'td[data-column="{name}"]')

    def row_with_its_cost(driver):
        """The environment's row once its cost is known: a cost the API server is still reading shows
        "estimating…" and the page lists again 2 s later (rows are drawn anew then)."""
        rows = driver.find_elements(By.CSS_SELECTOR, 'tr[data-environment="in-browser"]')
        return rows[0] if rows and column(rows[0], "cost").text.startswith("$") else False

    row = WebDriverWait(chromium, 60, ignored_exceptions=(StaleElementReferenceException,)).until(row_with_its_cost)

    # make airflow's stack has the platform team's two Variables set: the environment is behind the ALB
    assert column(row, "url").text == "http://in-browser.env.fargate.local"
    assert row.find_element(By.LINK_TEXT, "http://in-browser.env.fargate.local").get_attribute("href") == (
        "http://in-browser.env.fargate.local/"
    )
    name = column(row, "environment").text
    assert name.startswith("in-browser\nenv-in-browser / in-browser · env-in-browser:1\nlast changed by manual__")
    assert column(row, "owner").text == "admin"  # the Airflow user who triggered it
    assert column(row, "image").text == "public.ecr.aws/nginx/nginx:1.27"
    assert column(row, "state").text == "awake: 1/1 tasks running\n1/1 targets healthy"  # behind the ALB
    last_run = column(row, "environment").find_element(By.TAG_NAME, "a").get_attribute("href")
    assert "/dags/fargate_ephemeral_environment/runs/manual__" in last_run  # the run that made it, in Airflow's UI
    ttl_before = column(row, "expires").text

    # Extend +3 h: the expiry tag moves at once and the Expires column shows it (the janitor reads the tag)
    before = _expires_at(emulator, "env-in-browser")
    hours = row.find_element(By.NAME, "extend-hours-in-browser")
    hours.clear()
    hours.send_keys("3")
    row.find_element(By.NAME, "extend-in-browser").click()
    wait.until(shown.text_to_be_present_in_element((By.ID, "status"), "in-browser now expires at "))
    after = _expires_at(emulator, "env-in-browser")
    assert after - before == dt.timedelta(hours=3)
    assert after.strftime("%Y-%m-%dT%H:%M:%SZ") in chromium.find_element(By.ID, "status").text
    row = chromium.find_element(By.CSS_SELECTOR, 'tr[data-environment="in-browser"]')  # the table was redrawn
    ttl = column(row, "expires").text.splitlines()[-1]
    assert ttl != ttl_before and ttl.startswith(("in 10 h", "in 11 h")), (ttl_before, ttl)  # 8 h TTL + 3 h

    # Sleep from the page: the row says so while the run works, then "asleep since …"; Wake brings it back.
    row.find_element(By.NAME, "sleep-in-browser").click()
    wait.until(shown.text_to_be_present_in_element((By.ID, "status"), "Putting to sleep in-browser: run sleep-in-"))
    long_wait = WebDriverWait(chromium, 300)  # a run of the DAG each (slow when the machine is busy)
    long_wait.until(
        shown.text_to_be_present_in_element(
            (By.CSS_SELECTOR, 'tr[data-environment="in-browser"] td[data-column="state"]'), "asleep since"
        )
    )
    chromium.find_element(By.NAME, "wake-in-browser").click()
    long_wait.until(
        shown.text_to_be_present_in_element(
            (By.CSS_SELECTOR, 'tr[data-environment="in-browser"] td[data-column="state"]'), "awake: 1/1"
        )
    )
    chromium.save_screenshot(str(home / "environments-page.png"))

    # Destroy asks first, marks the row "destroying…" with its run, and the row goes once it is gone.
    chromium.find_element(By.NAME, "destroy-in-browser").click()
    wait.until(shown.alert_is_present())
    chromium.switch_to.alert.accept()
    wait.until(shown.text_to_be_present_in_element((By.ID, "status"), "Destroying in-browser: run destroy-in-"))
    wait.until(
        shown.text_to_be_present_in_element(
            (By.CSS_SELECTOR, 'tr[data-environment="in-browser"] td[data-column="state"]'),
            "destroying… destroy-in-browser-",
        )
    )
    # (Not invisibility_of_element_located: the row is redrawn every 5 s meanwhile, and a stale row counts as gone.)
    long_wait.until(shown.text_to_be_present_in_element((By.ID, "status"), "in-browser destroyed."))
    assert chromium.find_elements(By.CSS_SELECTOR, 'tr[data-environment="in-browser"]') == []
    assert ecs_leftovers(emulator) == {}


def _expires_at(endpoint: str, cluster: str) -> dt.datetime:
    from tests.helpers.aws import ecs

    described = ecs(endpoint).describe_clusters(clusters=[cluster], include=["TAGS"])["clusters"][0]
    value = {t["key"]: t["value"] for t in described["tags"]}["fargate-expires-at"]
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
