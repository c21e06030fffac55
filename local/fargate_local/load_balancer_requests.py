"""What a request through an Application Load Balancer's listener gets: its rules played as ELB documents them.

The emulator plays the load balancer's API, not its traffic; this answers "what would ELB do with a
request for this host and path from this address", from the listener's rules as DescribeRules
reports them and the targets' health as DescribeTargetHealth reports it
(Elastic Load Balancing User Guide for Application Load Balancers, "Listener rules"):

- rules are evaluated in priority order, lowest value first, the default rule last; the first whose
  conditions all match acts ("Rules are evaluated in priority order, from the lowest value to the
  highest value. The default rule is evaluated last.");
- within a condition any value may match; ``host-header`` is case-insensitive and ``path-pattern``
  case-sensitive, both with the wildcards ``*`` (0 or more characters) and ``?`` (exactly one);
  ``source-ip`` matches the client's address against CIDR blocks;
- ``fixed-response`` answers with its status, content type and body; ``redirect`` with its status
  and Location; ``forward`` sends the request to a healthy target of the target group (the answer
  names it: the emulator's tasks serve no traffic); when the
  group has registered targets but none healthy, ELB "routes requests to all those targets,
  regardless of their health status" (fail open); with no registered target it answers 503.

Conditions this module does not play (``http-header``, ``http-request-method``, ``query-string``)
raise ValueError rather than be taken as matching.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

PLAYED_CONDITIONS = ("host-header", "path-pattern", "source-ip")
NO_TARGET_STATUS, NO_TARGET_BODY = 503, "503 Service Temporarily Unavailable"


def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


def _values(condition: dict[str, Any], config: str) -> list[str]:
    return list((condition.get(config) or {}).get("Values") or condition.get("Values") or [])


def condition_matches(condition: dict[str, Any], *, host: str, path: str, source_ip: str) -> bool:
    field = condition.get("Field")
    if field == "host-header":
        return any(_wildcard(v, ignore_case=True).fullmatch(host) for v in _values(condition, "HostHeaderConfig"))
    if field == "path-pattern":
        return any(_wildcard(v, ignore_case=False).fullmatch(path) for v in _values(condition, "PathPatternConfig"))
    if field == "source-ip":
        address = ipaddress.ip_address(source_ip)
        return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in _values(condition, "SourceIpConfig"))
    raise ValueError(f"condition {field!r}: not played by the emulator (it plays {', '.join(PLAYED_CONDITIONS)})")


def matching_rule(rules: list[dict[str, Any]], *, host: str, path: str, source_ip: str) -> dict[str, Any]:
    """The rule that acts: the first by priority whose conditions all match, else the default rule.
    ``rules`` as DescribeRules returns them (Priority a number as text, or "default")."""
    ordered = sorted((r for r in rules if not r.get("IsDefault")), key=lambda r: int(r["Priority"]))
    for rule in ordered:
        if all(condition_matches(c, host=host, path=path, source_ip=source_ip) for c in rule.get("Conditions", [])):
            return rule
    return next(r for r in rules if r.get("IsDefault"))


def answer(
    rules: list[dict[str, Any]],
    target_health: Any,
    *,
    host: str,
    path: str = "/",
    source_ip: str,
) -> dict[str, Any]:
    """ELB's answer to the request; ``target_health(target_group_arn)`` gives the registered targets
    as DescribeTargetHealth does (``[{"Target": {"Id", "Port"}, "TargetHealth": {"State"}}]``)."""
    rule = matching_rule(rules, host=host, path=path, source_ip=source_ip)
    action = rule["Actions"][-1]  # the terminal action (authenticate-* before it are not played)
    result: dict[str, Any] = {"rule_arn": rule.get("RuleArn"), "priority": rule.get("Priority")}
    kind = action.get("Type")
    if kind == "fixed-response":
        config = action.get("FixedResponseConfig") or {}
        return {
            **result,
            "status": int(config.get("StatusCode", 200)),
            "content_type": config.get("ContentType", "text/plain"),
            "body": config.get("MessageBody", ""),
        }
    if kind == "redirect":
        config = action.get("RedirectConfig") or {}
        scheme = config.get("Protocol", "#{protocol}").lower()
        location = f"{scheme}://{config.get('Host', host)}{config.get('Path', path)}"
        return {**result, "status": int(str(config.get("StatusCode", "HTTP_302"))[-3:]), "location": location}
    if kind == "forward":
        groups = [action["TargetGroupArn"]] if action.get("TargetGroupArn") else []
        groups += [g["TargetGroupArn"] for g in (action.get("ForwardConfig") or {}).get("TargetGroups", [])]
        registered = [t for arn in dict.fromkeys(groups) for t in target_health(arn)]
        registered = [t for t in registered if t["TargetHealth"]["State"] not in ("draining", "unused")]
        if not registered:
            return {**result, "status": NO_TARGET_STATUS, "body": NO_TARGET_BODY}
        healthy = [t for t in registered if t["TargetHealth"]["State"] == "healthy"]
        chosen = (healthy or registered)[0]["Target"]
        # The target answers (the emulator's tasks serve no traffic: no status of theirs to report).
        return {**result, "forwarded_to": f"{chosen['Id']}:{chosen.get('Port')}", "fail_open": not healthy}
    raise ValueError(f"action {kind!r}: not played by the emulator")
