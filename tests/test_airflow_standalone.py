"""`make airflow` (scripts/airflow_local.py): the real stack, airflow standalone + the emulator.

Triggers fargate_ephemeral_environment through the REST API as the UI's Trigger form does,
and sees the run succeed with its stable-wait deferred to, and resumed from, the triggerer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.airflow_api import AirflowApi
from tests.helpers.aws import ecs_leftovers

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "fargate_ephemeral_environment"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`scripts/airflow_local.py` in its own process group, on free ports; stopped (Ctrl-C) at the end."""
    home = tmp_path_factory.mktemp("airflow-standalone")
    port, emulator_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_ENDPOINT"))}
    # Airflow's log servers on free ports too: the defaults (8793, 8794) may be another Airflow's.
    env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
    env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(free_port())
    log = (home / "stack.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "airflow_local.py"),
            "--home",
            str(home / "airflow"),
            "--port",
            str(port),
            "--emulator-port",
            str(emulator_port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=ROOT,
        # with SIGINT ignored, as a shell without job control starts `cmd &` (CI scripts): Ctrl-C must still stop it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    api = AirflowApi(f"http://localhost:{port}")
    try:

        def healthy():
            status, body = api.call("GET", "/api/v2/monitor/health")
            return status == 200 and all(
                body[c]["status"] == "healthy" for c in ("scheduler", "triggerer", "dag_processor")
            )

        api.poll("airflow standalone to be healthy", healthy, timeout=240, interval=2)
        password = json.loads((home / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        status, token = api.call("POST", "/auth/token", {"username": "admin", "password": password})
        assert status == 201, token
        api.token = token["access_token"]
        yield api, f"http://127.0.0.1:{emulator_port}", home
    finally:
        os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal would
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        log.close()


def trigger_and_wait(api: AirflowApi, conf: dict) -> tuple[str, dict]:
    api.poll(f"{DAG_ID} to be parsed", lambda: api.call("GET", f"/api/v2/dags/{DAG_ID}")[0] == 200, timeout=120)
    assert api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})[0] == 200
    # What the Trigger form posts: the form's fields as conf.
    status, run = api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
    assert status == 200, run
    run_id = run["dag_run_id"]

    def finished():
        _, body = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        return body if isinstance(body, dict) and body.get("state") in ("success", "failed") else None

    final = api.poll(f"run {run_id} to finish", finished, timeout=300, interval=2)
    _, tis = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
    states = {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}
    assert final["state"] == "success", api.explain(DAG_ID, run_id)
    return run_id, states


def test_rest_triggered_environment_waits_in_the_triggerer_and_succeeds(stack):
    api, emulator, _ = stack
    run_id, states = trigger_and_wait(api, {"environment": "from-ui", "desired_count": 2, "subnet_kind": "public"})
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

    _, states = trigger_and_wait(api, {"environment": "from-ui", "action": "destroy"})
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
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    api, emulator, home = stack
    trigger_and_wait(api, {"environment": "in-browser", "desired_count": 1})
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

    row = wait.until(shown.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-environment="in-browser"]')))
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    # make airflow's stack has the platform team's two Variables set: the environment is behind the ALB
    assert cells[1] == "http://in-browser.env.fargate.local"
    assert row.find_element(By.LINK_TEXT, cells[1]).get_attribute("href") == "http://in-browser.env.fargate.local/"
    assert cells[2] == "env-in-browser / in-browser" and cells[3] == "env-in-browser:1" and cells[4] == "1/1"
    assert cells[7].startswith("$")

    # Extend +3 h: the expiry tag moves at once and the TTL column shows it (the janitor reads the tag)
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
    ttl = row.find_elements(By.TAG_NAME, "td")[6].text
    assert ttl != cells[6] and ttl.startswith(("10 h", "11 h")), (cells[6], ttl)  # 8 h TTL (the form's default) + 3 h
    row.find_element(By.NAME, "destroy-in-browser").click()
    wait.until(shown.text_to_be_present_in_element((By.ID, "status"), "Destroy of in-browser requested: run "))

    def gone():
        return ecs_leftovers(emulator) == {}

    api.poll("the environment to be gone from the emulator", gone, timeout=180, interval=2)


def _expires_at(endpoint: str, cluster: str) -> dt.datetime:
    from tests.helpers.aws import ecs

    described = ecs(endpoint).describe_clusters(clusters=[cluster], include=["TAGS"])["clusters"][0]
    value = {t["key"]: t["value"] for t in described["tags"]}["fargate-expires-at"]
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
