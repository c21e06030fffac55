"""CloudWatch Logs Live Tail (StartLiveTail) as AWS documents it, read by the provider's shared
sessions in the triggerer and by the local emulator's sessions, so the two keep the same limits.

Sources: the CloudWatch Logs API reference, StartLiveTail (request members; "Every second, a
LiveTailSessionUpdate object is sent"; "can include as many as 500 log events. If the number of log
events matching the request exceeds 500 per second, the log events are sampled down to 500";
"SessionTimeoutException ... after it has been kept open for three hours"), and the CloudWatch Logs
quotas page ("Concurrent Live Tail sessions: 15 per account and Region, adjustable"). Price: Live Tail
is billed per minute of session time (CloudWatch pricing, $0.01 a session-minute in us-east-1).
"""

from __future__ import annotations

import re

MAX_LOG_GROUPS = 10  # logGroupIdentifiers: "You can include up to 10 log groups."
MAX_STREAM_FILTERS = 100  # logStreamNames / logStreamNamePrefixes: 1 to 100 items
MAX_EVENTS_PER_UPDATE = 500  # a sessionUpdate's sessionResults; more in a second: sampled down to 500
UPDATE_SECONDS = 1.0  # a sessionUpdate every second, empty when nothing was ingested
SESSION_SECONDS = 3 * 3600  # SessionTimeoutException after three hours
CONCURRENT_SESSIONS = 15  # per account and Region (adjustable)
SESSION_MINUTE_USD = 0.01  # us-east-1, per session-minute

_LOG_GROUP_ARN = re.compile(r"^arn:(aws[a-z-]*):logs:([a-z0-9-]+):(\d{12}):log-group:([^:*]+)(:\*)?$")


def log_group_arn(partition: str, region: str, account: str, group: str) -> str:
    """The identifier StartLiveTail wants for a log group: its ARN, without the trailing ``:*``."""
    return f"arn:{partition}:logs:{region}:{account}:log-group:{group}"


def log_group_name(identifier: str) -> str | None:
    """The log group an ARN names (with or without ``:*``); None for anything else."""
    match = _LOG_GROUP_ARN.match(identifier)
    return match.group(4) if match else None


def request_problem(request: dict[str, object]) -> str | None:
    """Why StartLiveTail refuses ``request`` (InvalidParameterException), in CloudWatch Logs' words
    where they are known (the model's length bounds in the AWS validation form; the pairing rules as
    the API reference states them); None when it is well-formed. Whether the groups exist is not
    judged here."""
    groups = request.get("logGroupIdentifiers")
    if not isinstance(groups, list) or not groups:
        return (
            "1 validation error detected: Value at 'logGroupIdentifiers' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    if len(groups) > MAX_LOG_GROUPS:
        return (
            "1 validation error detected: Value at 'logGroupIdentifiers' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_LOG_GROUPS}"
        )
    for identifier in groups:
        if not isinstance(identifier, str) or identifier.endswith("*"):
            return f"Log group identifier {identifier}: if you specify an ARN, the ARN can't end with an asterisk (*)"
        if log_group_name(identifier) is None:
            return f"Log group identifier {identifier}: specify each log group by its ARN"
    names, prefixes = request.get("logStreamNames"), request.get("logStreamNamePrefixes")
    if names is not None and prefixes is not None:
        return "If you specify logStreamNames, you can't also specify logStreamNamePrefixes"
    for member, value in (("logStreamNames", names), ("logStreamNamePrefixes", prefixes)):
        if value is None:
            continue
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_STREAM_FILTERS:
            return (
                f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
                f"Member must have length between 1 and {MAX_STREAM_FILTERS}"
            )
        if len(groups) != 1:
            return f"You can specify {member} only if you specify only one log group in logGroupIdentifiers"
    return None
