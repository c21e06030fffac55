"""Extend and Keep until (issue 16): the environments page moves an environment's
``fargate-expires-at`` (cluster and service), within the form's maximum time-to-live, only on
environments that are ours; the janitor then leaves it alone. Through Airflow (dag.test, real
metadata DB) and the page's own app against the emulator. (In Chromium: test_airflow_standalone.py.)"""

from __future__ import annotations

import datetime as dt

import pytest

from fargate_provider.environments.lifetime import extended_expiry, kept_until
from fargate_provider.environments.naming import MAX_TTL_HOURS, EnvironmentSpecError
from tests.emulator.helpers import client
from tests.test_environments_page import page_client  # noqa: F401  (the page's app, signed in as admin)

HEADERS = {"X-Requested-By": "fargate-environments"}
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def _at(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def test_extend_adds_to_the_current_expiry_or_to_now_once_it_has_passed():
    assert extended_expiry(NOW + dt.timedelta(hours=3), 2, NOW) == NOW + dt.timedelta(hours=5)
    assert extended_expiry(NOW - dt.timedelta(hours=3), 2, NOW) == NOW + dt.timedelta(hours=2)
    assert extended_expiry(None, MAX_TTL_HOURS, NOW) == NOW + dt.timedelta(hours=MAX_TTL_HOURS)


def test_keep_until_takes_a_time_with_its_zone_or_a_whole_day():
    assert kept_until("2026-11-30T18:00:00Z", NOW) == dt.datetime(2026, 11, 30, 18, tzinfo=dt.UTC)
    assert kept_until("2026-11-30T19:00:00+01:00", NOW) == dt.datetime(2026, 11, 30, 18, tzinfo=dt.UTC)
    assert kept_until("2026-11-30T18:00:00.123Z", NOW) == dt.datetime(2026, 11, 30, 18, tzinfo=dt.UTC)
    assert kept_until("2026-12-01", NOW) == dt.datetime(2026, 12, 1, 23, 59, 59, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: extended_expiry(None, 0, NOW), "hours: must be a whole number of hours from 1 to 168, got 0"),
        (lambda: extended_expiry(None, "2", NOW), "hours: must be a whole number of hours from 1 to 168, got '2'"),
        (lambda: extended_expiry(None, True, NOW), "hours: must be a whole number"),
        (
            lambda: extended_expiry(NOW + dt.timedelta(hours=100), 100, NOW),
            "hours: environments live at most 168 hours from now (until 2026-12-06T12:00:00Z)",
        ),
        (lambda: kept_until("2026-11-29T11:00:00Z", NOW), "until: '2026-11-29T11:00:00Z' has passed"),
        (lambda: kept_until("2026-11-30T18:00:00", NOW), "until: '2026-11-30T18:00:00' has no time zone"),
        (lambda: kept_until("next friday", NOW), "until: 'next friday' is not an ISO 8601 time or date"),
        (lambda: kept_until("2027-01-01", NOW), "until: environments live at most 168 hours from now"),
        (lambda: kept_until(None, NOW), "until: give a time such as"),
    ],
)
def test_bad_expiry_input_names_the_field_and_what_is_allowed(call, message):
    with pytest.raises(EnvironmentSpecError, match="^" + __import__("re").escape(message)):
        call()


def _expiry_tags(ecs, environment: str) -> tuple[str, str]:
    cluster = ecs.describe_clusters(clusters=[f"env-{environment}"], include=["TAGS"])["clusters"][0]
    service = ecs.describe_services(cluster=f"env-{environment}", services=[environment], include=["TAGS"])["services"][
        0
    ]
    value = lambda resource: {t["key"]: t["value"] for t in resource["tags"]}["fargate-expires-at"]  # noqa: E731
    return value(cluster), value(service)


def test_extend_and_keep_until_move_the_expiry_and_the_janitor_respects_it(user_dags, emulator, capfd, page_client):  # noqa: F811
    created = user_dags.run("fargate_ephemeral_environment", capfd, run_conf={"environment": "kept", "ttl_hours": 1})
    assert created.state == "success", created.task_states
    ecs = client(emulator)
    first, _ = _expiry_tags(ecs, "kept")

    extended = page_client.post("/api/environments/kept/expiry", json={"hours": 3}, headers=HEADERS)
    assert extended.status_code == 200, extended.text
    assert extended.json()["previous_expires_at"] == first
    assert _at(extended.json()["expires_at"]) == _at(first) + dt.timedelta(hours=3)
    assert _expiry_tags(ecs, "kept") == (extended.json()["expires_at"],) * 2  # cluster (the janitor's) and service
    [listed] = page_client.get("/api/environments").json()["environments"]
    assert 3.9 * 3600 < listed["ttl_left_seconds"] <= 4 * 3600  # the TTL column

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    kept = page_client.post(
        "/api/environments/kept/expiry", json={"until": until.strftime("%Y-%m-%dT%H:%M:%S.000Z")}, headers=HEADERS
    )
    assert kept.status_code == 200, kept.text
    assert _at(kept.json()["expires_at"]) == until and _expiry_tags(ecs, "kept")[0] == kept.json()["expires_at"]

    # refused, before anything changes: too far, both at once, a missing environment
    too_far = page_client.post("/api/environments/kept/expiry", json={"hours": 160}, headers=HEADERS)
    assert too_far.status_code == 422 and too_far.json()["detail"].startswith(
        "hours: environments live at most 168 hours from now"
    )
    both = page_client.post("/api/environments/kept/expiry", json={"hours": 1, "until": "2026-12-01"}, headers=HEADERS)
    assert both.status_code == 422 and "not both" in both.json()["detail"]
    assert page_client.post("/api/environments/nowhere/expiry", json={"hours": 1}, headers=HEADERS).status_code == 404
    assert _expiry_tags(ecs, "kept")[0] == kept.json()["expires_at"]

    # its time passed; Extend +1 h counts from now, and the janitor leaves it alone
    arn = ecs.describe_clusters(clusters=["env-kept"])["clusters"][0]["clusterArn"]
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "fargate-expires-at", "value": past}])
    revived = page_client.post("/api/environments/kept/expiry", json={"hours": 1}, headers=HEADERS).json()
    assert 0.95 * 3600 < revived["ttl_left_seconds"] <= 3600
    janitor = user_dags.run("fargate_environment_janitor", capfd)
    assert janitor.state == "success", janitor.task_states
    assert "Expired environments: none" in janitor.log
    assert ecs.describe_services(cluster="env-kept", services=["kept"])["services"][0]["status"] == "ACTIVE"

    destroyed = user_dags.run(
        "fargate_ephemeral_environment", capfd, run_conf={"environment": "kept", "action": "destroy"}
    )
    assert destroyed.state == "success", destroyed.task_states


def test_a_cluster_that_is_not_ours_is_not_retagged(emulator, page_client):  # noqa: F811
    ecs = client(emulator)
    # named like an environment, tagged like one, but without the provider's managed-by tag
    ecs.create_cluster(
        clusterName="env-foreign",
        tags=[
            {"key": "fargate-environment", "value": "foreign"},
            {"key": "fargate-expires-at", "value": "2026-01-01T00:00:00Z"},
        ],
    )
    try:
        response = page_client.post("/api/environments/foreign/expiry", json={"hours": 5}, headers=HEADERS)
        tags = {
            t["key"]: t["value"]
            for t in ecs.describe_clusters(clusters=["env-foreign"], include=["TAGS"])["clusters"][0]["tags"]
        }
    finally:
        ecs.delete_cluster(cluster="env-foreign")
    assert response.status_code == 409 and "is not environment foreign's" in response.json()["detail"]
    assert tags["fargate-expires-at"] == "2026-01-01T00:00:00Z"


def test_the_expiry_call_needs_the_pages_own_header_and_json(page_client, no_aws):  # noqa: F811
    assert page_client.post("/api/environments/kept/expiry", json={"hours": 2}).status_code == 403
    assert page_client.post("/api/environments/kept/expiry", json={"days": 2}, headers=HEADERS).status_code == 422
    assert (
        page_client.post("/api/environments/Not_A_Name/expiry", json={"hours": 2}, headers=HEADERS).status_code == 422
    )
    bad = page_client.post("/api/environments/kept/expiry", json={"hours": 0}, headers=HEADERS)  # no AWS call (no_aws)
    assert bad.status_code == 422 and bad.json()["detail"].startswith("hours: must be a whole number")
