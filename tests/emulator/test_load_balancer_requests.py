"""The emulator's load balancer data plane (fargate_local.load_balancer_requests): listener rules evaluated
as the ELB user guide ("Listener rules for your Application Load Balancer") says, on DescribeRules-shaped
rules; pure, no emulator process."""

from __future__ import annotations

import pytest

from fargate_local.load_balancer_requests import answer, matching_rule

DEFAULT = {"RuleArn": "default", "Priority": "default", "IsDefault": True, "Actions": [
    {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "MessageBody": "no such host"}}
]}  # fmt: skip


def rule(arn: str, priority: int, conditions: list, action: dict) -> dict:
    return {
        "RuleArn": arn,
        "Priority": str(priority),
        "IsDefault": False,
        "Conditions": conditions,
        "Actions": [action],
    }


def host(*values: str) -> dict:
    return {"Field": "host-header", "HostHeaderConfig": {"Values": list(values)}}


def forward(group: str) -> dict:
    return {"Type": "forward", "TargetGroupArn": group}


def health(states: dict[str, list[str]]):
    return lambda arn: [
        {"Target": {"Id": f"10.0.1.{i}", "Port": "80"}, "TargetHealth": {"State": s}}
        for i, s in enumerate(states.get(arn, []), start=1)
    ]


def test_the_lowest_priority_number_that_matches_acts_and_the_default_rule_comes_last():
    rules = [
        DEFAULT,
        rule("wide", 20, [host("*.example.com")], forward("tg-wide")),
        rule("narrow", 5, [host("shop.example.com")], forward("tg-shop")),
    ]
    assert matching_rule(rules, host="shop.example.com", path="/", source_ip="1.2.3.4")["RuleArn"] == "narrow"
    assert matching_rule(rules, host="blog.example.com", path="/", source_ip="1.2.3.4")["RuleArn"] == "wide"
    assert matching_rule(rules, host="example.org", path="/", source_ip="1.2.3.4")["RuleArn"] == "default"


def test_host_is_case_insensitive_path_is_not_and_question_mark_is_one_character():
    rules = [
        DEFAULT,
        rule("h", 1, [host("APP-?.example.com"), {"Field": "path-pattern", "Values": ["/api/*"]}], forward("tg")),
    ]
    assert matching_rule(rules, host="app-1.EXAMPLE.com", path="/api/x", source_ip="1.2.3.4")["RuleArn"] == "h"
    assert matching_rule(rules, host="app-12.example.com", path="/api/x", source_ip="1.2.3.4")["RuleArn"] == "default"
    assert matching_rule(rules, host="app-1.example.com", path="/API/x", source_ip="1.2.3.4")["RuleArn"] == "default"


def test_source_ip_matches_cidr_blocks_and_every_condition_must_match():
    inside = {"Field": "source-ip", "SourceIpConfig": {"Values": ["198.51.100.0/24", "2001:db8::/32"]}}
    rules = [DEFAULT, rule("r", 1, [host("a.example.com"), inside], forward("tg"))]
    for address, expected in (("198.51.100.7", "r"), ("2001:db8::1", "r"), ("203.0.113.9", "default")):
        assert matching_rule(rules, host="a.example.com", path="/", source_ip=address)["RuleArn"] == expected
    assert matching_rule(rules, host="b.example.com", path="/", source_ip="198.51.100.7")["RuleArn"] == "default"


def test_answers_fixed_response_forward_fail_open_and_no_target():
    fixed = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403", "MessageBody": "go away"}}
    rules = [
        DEFAULT,
        rule("deny", 2, [host("d.example.com")], fixed),
        rule("ok", 3, [host("ok.example.com")], forward("tg-ok")),
        rule("sick", 4, [host("sick.example.com")], forward("tg-sick")),
        rule("empty", 5, [host("empty.example.com")], forward("tg-empty")),
    ]
    targets = health({"tg-ok": ["unhealthy", "healthy"], "tg-sick": ["unhealthy"], "tg-empty": ["draining"]})

    def ask(name: str) -> dict:
        return answer(rules, targets, host=f"{name}.example.com", source_ip="1.2.3.4")

    assert (ask("d")["status"], ask("d")["body"]) == (403, "go away")
    assert ask("ok")["forwarded_to"] == "10.0.1.2:80" and ask("ok")["fail_open"] is False  # the healthy one
    assert ask("sick")["forwarded_to"] == "10.0.1.1:80" and ask("sick")["fail_open"] is True  # all unhealthy: all
    assert ask("empty")["status"] == 503  # nothing registered (a draining target takes no new request)
    assert ask("other")["status"] == 404 and ask("other")["rule_arn"] == "default"


def test_a_condition_it_does_not_play_is_refused_not_taken_as_matching():
    rules = [DEFAULT, rule("m", 1, [{"Field": "http-request-method", "Values": ["GET"]}], forward("tg"))]
    with pytest.raises(ValueError, match="'http-request-method': not played"):
        matching_rule(rules, host="a", path="/", source_ip="1.2.3.4")
