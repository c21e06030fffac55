"""Application Load Balancer quotas that environment routes meet, read by the provider (before it
makes a route) and by the local emulator (CreateRule and ModifyRule refuse as ELB does).

Sources:
- Elastic Load Balancing, "Quotas for your Application Load Balancers": Rules per Application Load
  Balancer (excluding default rules) 100; Target Groups per Application Load Balancer 100, not
  adjustable; Condition values per rule 5; Condition wildcards per rule 5.
- ELBv2 API reference, CreateRule and ModifyRule errors: ``TooManyRules`` "You've reached the limit on
  the number of rules per load balancer."; ``TooManyUniqueTargetGroupsPerLoadBalancer`` "You've reached
  the limit on the number of unique target groups per load balancer across all listeners. If a target
  group is used by multiple actions for a load balancer, it is counted as only one use."
- Too many condition values: "A rule can only have '5' condition values" (HTTP 400, as AWS answered it
  in aws-cloudformation/cfn-lint#3833 and aws/aws-cdk#10065; the error code is not quoted there).
- ELBv2 API reference, Limit: the names DescribeAccountLimits gives these quotas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

RULES_PER_LOAD_BALANCER = 100  # excluding default rules; adjustable
TARGET_GROUPS_PER_LOAD_BALANCER = 100  # unique, across all listeners; not adjustable
CONDITION_VALUES_PER_RULE = 5
CONDITION_WILDCARDS_PER_RULE = 5

RULES_LIMIT_NAME = "rules-per-application-load-balancer"
TARGET_GROUPS_LIMIT_NAME = "target-groups-per-application-load-balancer"

# What DescribeAccountLimits answers an account with the default quotas (the quotas page's defaults).
DEFAULT_ACCOUNT_LIMITS: dict[str, int] = {
    "application-load-balancers": 50,
    "condition-values-per-alb-rule": CONDITION_VALUES_PER_RULE,
    "condition-wildcards-per-alb-rule": CONDITION_WILDCARDS_PER_RULE,
    "listeners-per-application-load-balancer": 50,
    RULES_LIMIT_NAME: RULES_PER_LOAD_BALANCER,
    "target-groups": 3000,
    "target-groups-per-action-on-application-load-balancer": 5,
    TARGET_GROUPS_LIMIT_NAME: TARGET_GROUPS_PER_LOAD_BALANCER,
    "targets-per-application-load-balancer": 1000,
    "certificates-per-application-load-balancer": 25,
    "network-load-balancers": 50,
    "listeners-per-network-load-balancer": 50,
    "targets-per-network-load-balancer": 3000,
}

TOO_MANY_RULES = ("TooManyRules", "You've reached the limit on the number of rules per load balancer.")
TOO_MANY_TARGET_GROUPS = (
    "TooManyUniqueTargetGroupsPerLoadBalancer",
    (
        "You've reached the limit on the number of unique target groups per load balancer across all listeners. "
        "If a target group is used by multiple actions for a load balancer, it is counted as only one use."
    ),
)
TOO_MANY_CONDITION_VALUES = ("ValidationError", f"A rule can only have '{CONDITION_VALUES_PER_RULE}' condition values")

_CONFIGS = (
    "HostHeaderConfig",
    "PathPatternConfig",
    "SourceIpConfig",
    "HttpHeaderConfig",
    "HttpRequestMethodConfig",
    "QueryStringConfig",
)


def target_groups_of(actions: Iterable[Mapping[str, Any]]) -> set[str]:
    """The target groups a rule's actions forward to (``TargetGroupArn`` or ``ForwardConfig``)."""
    found: set[str] = set()
    for action in actions:
        if action.get("TargetGroupArn"):
            found.add(str(action["TargetGroupArn"]))
        for group in (action.get("ForwardConfig") or {}).get("TargetGroups") or []:
            if group.get("TargetGroupArn"):
                found.add(str(group["TargetGroupArn"]))
    return found


def condition_value_count(conditions: Iterable[Mapping[str, Any]]) -> int:
    """How many condition values a rule has: each value of each condition counts (the legacy
    ``Values`` or the field's ``...Config``)."""
    count = 0
    for condition in conditions:
        values = list(condition.get("Values") or [])
        for config in _CONFIGS:
            values.extend((condition.get(config) or {}).get("Values") or [])
        count += len(values)
    return count


def rule_problem(
    *,
    conditions: Iterable[Mapping[str, Any]] | None,
    actions: Iterable[Mapping[str, Any]] | None,
    other_rules: int | None,
    target_groups_in_use: set[str],
    rules_limit: int = RULES_PER_LOAD_BALANCER,
) -> tuple[str, str] | None:
    """Why ELB refuses a rule, as (error code, message), or None.

    ``other_rules``: the load balancer's rules other than this one, default rules excluded, on all its
    listeners; None when the rule already exists (ModifyRule adds no rule). ``target_groups_in_use``:
    the target groups the load balancer's other rules and default actions forward to."""
    if conditions is not None and condition_value_count(conditions) > CONDITION_VALUES_PER_RULE:
        return TOO_MANY_CONDITION_VALUES
    if other_rules is not None and other_rules >= rules_limit:
        return TOO_MANY_RULES
    if actions is not None and len(target_groups_in_use | target_groups_of(actions)) > TARGET_GROUPS_PER_LOAD_BALANCER:
        return TOO_MANY_TARGET_GROUPS
    return None


def room_problem(
    *, rules_used: int, rules_needed: int, rules_limit: int, target_groups_used: set[str], target_group: str
) -> str | None:
    """Why a route of ``rules_needed`` rules forwarding to ``target_group`` does not fit on a load balancer
    that already has ``rules_used`` rules and forwards to ``target_groups_used``; None when it fits."""
    if rules_used + rules_needed > rules_limit:
        return (
            f"the load balancer has {rules_used} of its {rules_limit} rules ({RULES_LIMIT_NAME}, default rules "
            f"excluded) and this route needs {rules_needed} more"
        )
    if target_group not in target_groups_used and len(target_groups_used) >= TARGET_GROUPS_PER_LOAD_BALANCER:
        return (
            f"the load balancer forwards to {len(target_groups_used)} target groups, the most ELB allows "
            f"({TARGET_GROUPS_LIMIT_NAME}: {TARGET_GROUPS_PER_LOAD_BALANCER}, not adjustable)"
        )
    return None
