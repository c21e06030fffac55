"""The environments page's security: the user's token goes only to Airflow's own REST API (from
configuration, never from the request's Host), and listing / destroying / extending need the
permissions Airflow gives on the environment DAG's runs (viewer reads, user and admin trigger)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from fastapi.testclient import TestClient

HEADERS = {"X-Requested-By": "fargate-environments"}


class _Capture(BaseHTTPRequestHandler):
    """Stands in for Airflow's REST API: records what reaches it."""

    seen: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(
            {"path": self.path, "authorization": self.headers.get("Authorization"), "body": json.loads(body)}
        )
        payload = json.dumps({"dag_run_id": "manual__captured", "state": "queued"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def rest_api():
    _Capture.seen = []
    server = HTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def api_server_app(airflow_db, monkeypatch):
    """Airflow's own API server app (create_app), with this repo's plugin mounted as the API
    server mounts it, and the simple auth manager."""
    from airflow import plugins_manager
    from airflow.api_fastapi import app as api_app

    from plugins.fargate_environments import FargateEnvironmentsPlugin

    monkeypatch.setattr(plugins_manager, "get_fastapi_plugins", lambda: (FargateEnvironmentsPlugin.fastapi_apps, []))
    api_app.purge_cached_app()
    app = api_app.create_app("core")
    yield app
    api_app.purge_cached_app()


def _token(role: str | None) -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=f"a-{role}", role=role))


def _as(role: str | None) -> dict[str, str]:
    return {**HEADERS, "Authorization": f"Bearer {_token(role)}"}


def test_a_forged_host_does_not_redirect_the_token(api_server_app, rest_api, monkeypatch):
    port = rest_api.server_address[1]
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", f"http://127.0.0.1:{port}")
    client = TestClient(api_server_app, base_url="http://evil.example.com")
    for host in ("evil.example.com", "169.254.169.254"):
        response = client.post("/fargate/api/environments/web/destroy", headers={**_as("user"), "Host": host})
        assert response.status_code == 200, response.text
    assert [s["path"] for s in _Capture.seen] == ["/api/v2/dags/fargate_ephemeral_environment/dagRuns"] * 2
    assert _Capture.seen[0]["body"]["conf"] == {"environment": "web", "action": "destroy"}
    assert _Capture.seen[0]["authorization"].startswith("Bearer ")


def test_without_base_url_the_token_goes_to_the_servers_own_address(api_server_app, rest_api, monkeypatch):
    from fargate_provider.environments.page import airflow_api_base_url

    port = rest_api.server_address[1]
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")
    monkeypatch.setenv("AIRFLOW__API__HOST", "0.0.0.0")
    monkeypatch.setenv("AIRFLOW__API__PORT", str(port))
    assert airflow_api_base_url() == f"http://127.0.0.1:{port}"
    client = TestClient(api_server_app, base_url="http://evil.example.com")
    response = client.post(
        "/fargate/api/environments/web/destroy", headers={**_as("admin"), "Host": "evil.example.com"}
    )
    assert response.status_code == 200 and len(_Capture.seen) == 1


@pytest.mark.parametrize(
    "role, may_list, may_destroy",
    [(None, False, False), ("viewer", True, False), ("user", True, True), ("admin", True, True)],
)
def test_listing_and_destroy_follow_airflows_permissions_on_the_dag(
    api_server_app, rest_api, monkeypatch, role, may_list, may_destroy
):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", f"http://127.0.0.1:{rest_api.server_address[1]}")
    no_aws_here = lambda hook, now, **_: []  # noqa: E731
    monkeypatch.setattr("fargate_provider.environments.page.describe_environments", no_aws_here)
    client = TestClient(api_server_app)
    listed = client.get("/fargate/api/environments", headers=_as(role))
    assert listed.status_code == (200 if may_list else 403), listed.text
    for action in ("destroy", "sleep", "wake"):
        triggered = client.post(f"/fargate/api/environments/web/{action}", headers=_as(role))
        assert triggered.status_code == (200 if may_destroy else 403), triggered.text
    assert len(_Capture.seen) == (3 if may_destroy else 0)  # a refused user's token goes nowhere
    if may_destroy:  # each run says what it does, in its id and its conf
        assert [s["body"]["conf"]["action"] for s in _Capture.seen] == ["destroy", "sleep", "wake"]
        assert [s["body"]["dag_run_id"].rsplit("-", 1)[0] for s in _Capture.seen] == [
            "destroy-web",
            "sleep-web",
            "wake-web",
        ]
    # Extend / Keep until: the same permission as Destroy
    moved = []
    monkeypatch.setattr(
        "fargate_provider.environments.lifetime.set_expiry",
        lambda hook, name, change, now: (
            moved.append(name)
            or {"environment": name, "expires_at": "x", "previous_expires_at": "y", "ttl_left_seconds": 1}
        ),
    )
    monkeypatch.setattr("fargate_provider.environments.page._hook", lambda: None)  # no AWS here
    extended = client.post("/fargate/api/environments/web/expiry", json={"hours": 2}, headers=_as(role))
    assert extended.status_code == (200 if may_destroy else 403), extended.text
    assert moved == (["web"] if may_destroy else [])
    assert client.get("/fargate/api/environments").status_code == 401  # not signed in
    assert client.post("/fargate/api/environments/web/expiry", json={"hours": 2}, headers=HEADERS).status_code == 401
