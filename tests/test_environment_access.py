"""Who may reach an environment (issue 27): ``allowed_cidrs`` becomes a source-ip condition on the
environment's listener rule and a second rule answers everyone else 403, through Airflow (dag.test(),
real metadata DB) against the emulator, whose load balancer evaluates the rules as ELB does."""

from __future__ import annotations

import pytest

from tests.emulator.helpers import client

DAG_ID = "fargate_ephemeral_environment"
OFFICE, ELSEWHERE = "198.51.100.7", "203.0.113.9"


def test_only_the_allowed_addresses_reach_the_environment_others_get_403(
    user_dags, emulator, capfd, load_balancer_variables
):
    listener = load_balancer_variables["listener_arn"]
    host = f"guarded.{load_balancer_variables['environments_domain']}"

    def ask(address: str) -> dict:
        return emulator.load_balancer_request(listener_arn=listener, host=host, source_ip=address)

    created = user_dags.run(DAG_ID, capfd, run_conf={"environment": "guarded", "allowed_cidrs": ["198.51.100.0/24"]})
    assert created.state == "success", created.task_states
    assert "[error" not in created.log
    assert ask(OFFICE)["forwarded_to"].endswith(":80") and not ask(OFFICE)["fail_open"]
    refused = ask(ELSEWHERE)
    assert refused["status"] == 403 and "guarded is open to some addresses only" in refused["body"]
    rules = [r for r in client(emulator, "elbv2").describe_rules(ListenerArn=listener)["Rules"] if not r["IsDefault"]]
    [own, denial] = sorted(rules, key=lambda r: int(r["Priority"]))
    assert {c["Field"] for c in own["Conditions"]} == {"host-header", "source-ip"}
    assert [c["Field"] for c in denial["Conditions"]] == ["host-header"]  # after it, for the same host

    # Asleep: the allowed addresses hear "asleep", the others still 403.
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "guarded", "action": "sleep"}).state == "success"
    assert ask(OFFICE)["body"].startswith("Environment guarded is asleep") and ask(ELSEWHERE)["status"] == 403
    # Created again without the list (it wakes, too): open to all, the 403 rule gone.
    opened = user_dags.run(DAG_ID, capfd, run_conf={"environment": "guarded"})
    assert opened.state == "success", opened.task_states
    assert "forwarded_to" in ask(ELSEWHERE) and "forwarded_to" in ask(OFFICE)
    rules = [r for r in client(emulator, "elbv2").describe_rules(ListenerArn=listener)["Rules"] if not r["IsDefault"]]
    assert len(rules) == 1 and [c["Field"] for c in rules[0]["Conditions"]] == ["host-header"]
    # Limited again, then destroyed: both rules go (the emulator fixture checks nothing is left).
    again = user_dags.run(DAG_ID, capfd, run_conf={"environment": "guarded", "allowed_cidrs": ["2001:db8::/32"]})
    assert again.state == "success" and ask(OFFICE)["status"] == 403
    assert user_dags.run(DAG_ID, capfd, run_conf={"environment": "guarded", "action": "destroy"}).state == "success"


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"allowed_cidrs": ["10.0.0.1/8"]}, "allowed_cidrs: '10.0.0.1/8' is not a CIDR block such as"),
        (
            {"allowed_cidrs": ["198.51.100.0/24"], "expose": "public_ip", "subnet_kind": "public"},
            "(expose is public_ip)",
        ),
    ],
)
def test_allowed_cidrs_that_cannot_work_fail_the_first_task_before_anything_is_made(
    user_dags, emulator, capfd, load_balancer_variables, conf, message
):
    run = user_dags.run(DAG_ID, capfd, run_conf={"environment": "refused", **conf})
    assert run.state == "failed" and run.task_states["prepare"] == "failed"
    assert run.extra["tries"]["prepare"] == 1  # input that can never pass is not retried
    assert message in run.log


def test_more_blocks_than_elb_allows_in_a_rule_are_refused_by_the_form(user_dags, no_aws, capfd):
    from airflow.sdk.exceptions import ParamValidationError

    five = [f"198.51.{i}.0/24" for i in range(5)]
    with pytest.raises(ParamValidationError, match="param allowed_cidrs:"):
        user_dags.run(DAG_ID, capfd, run_conf={"environment": "ok-name", "allowed_cidrs": five})


def test_a_load_balancer_without_room_fails_the_route_at_once_and_the_run_leaves_nothing(
    user_dags, emulator, capfd, load_balancer_variables
):
    """The listener's load balancer has used its 100 rules (another team's, not ours): the create fails
    at the route, once (no retry can make room), naming the quota, and its cleanup leaves nothing."""
    elbv2 = client(emulator, "elbv2")
    listener = load_balancer_variables["listener_arn"]
    fillers = [
        elbv2.create_rule(
            ListenerArn=listener,
            Priority=i,
            Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": [f"other-{i}.example.com"]}}],
            Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
        )["Rules"][0]["RuleArn"]
        for i in range(1, 101)
    ]
    try:
        run = user_dags.run(DAG_ID, capfd, run_conf={"environment": "no-room"})
        assert run.state == "failed" and run.task_states["route"] == "failed", run.task_states
        assert run.extra["tries"]["route"] == 1
        assert "Environment no-room cannot get a route" in run.log and "has 100 of its 100 rules" in run.log
        assert not [g for g in elbv2.describe_target_groups()["TargetGroups"] if g["TargetGroupName"] == "e-no-room"]
        assert not client(emulator, "ecs").list_clusters()["clusterArns"]  # the failed create cleaned up
    finally:
        for arn in fillers:
            elbv2.delete_rule(RuleArn=arn)
