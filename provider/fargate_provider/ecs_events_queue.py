"""The SQS queue and EventBridge rule that bring ECS's events to the triggerer (``[fargate]
events_queue_url``), made and removed by the provider, ours by tag.

    python -m fargate_provider.ecs_events_queue create [--name fargate-ecs-events] [--conn-id aws_default] [--region R]
    python -m fargate_provider.ecs_events_queue delete [--name ...]

``create`` makes, in the connection's account and Region (the triggerer's queue must be where ECS
sends the events: EventBridge rules see their own Region):

- the queue ``NAME`` (SSE with SQS-managed keys; messages kept an hour: an event older than the
  reconcile interval wakes nothing), tagged ``managed-by=airflow-provider-fargate``;
- the rule ``NAME`` on the default bus for ``source: aws.ecs`` and the three detail types the
  waits read, tagged the same;
- the queue policy that lets EventBridge send, only for that rule (``aws:SourceArn``), as
  "Amazon SQS permissions" in the EventBridge User Guide describes it;
- the rule's target, the queue.

It prints the queue URL to set as ``[fargate] events_queue_url``. Run again, it changes nothing
(the same rule, queue, policy and target). A queue or rule of that name without our tag is not
adopted: ``NotOursError``, nothing changed. ``delete`` removes what ``create`` made, and nothing
that is not ours. The names must start with ``fargate-ecs-events``: the triggerer's policy
(``iam/ecs-events-policy.json``) allows reading only such queues; the set-up's own calls are
``iam/ecs-events-setup-policy.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from fargate_provider.utils.aws_errors import has_code
from fargate_provider.utils.tags import MANAGED_BY_KEY, MANAGED_BY_VALUE
from fargate_rules.input_errors import InputError

NAME_PREFIX = "fargate-ecs-events"
DEFAULT_NAME = NAME_PREFIX
DETAIL_TYPES = ("ECS Task State Change", "ECS Service Action", "ECS Deployment State Change")
EVENT_PATTERN = {"source": ["aws.ecs"], "detail-type": list(DETAIL_TYPES)}
RETENTION_SECONDS = 3600
TARGET_ID = "fargate-ecs-events-queue"
# SQS queue names: 1-80 of letters, digits, - and _ (EventBridge rule names allow these too, up to 64)
_NAME = re.compile(rf"^{NAME_PREFIX}[\w-]{{0,{64 - len(NAME_PREFIX)}}}$")


class EventsQueueNameError(InputError):
    """A name the set-up would refuse."""


@dataclass(frozen=True)
class EventsQueue:
    name: str
    queue_url: str
    queue_arn: str
    rule_arn: str


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise EventsQueueNameError(
            f"name: {name!r} is not allowed; give {NAME_PREFIX} followed by up to {64 - len(NAME_PREFIX)} letters, "
            "digits, - or _ (the triggerer's policy, iam/ecs-events-policy.json, reads only queues so named)"
        )
    return name


def _ours(tags: dict[str, str]) -> bool:
    return tags.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE


def _existing_queue(sqs: Any, name: str) -> str | None:
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as error:
        if has_code(error, "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return None
        raise


def _existing_rule(events: Any, name: str) -> str | None:
    try:
        return str(events.describe_rule(Name=name)["Arn"])
    except ClientError as error:
        if has_code(error, "ResourceNotFoundException"):
            return None
        raise


def create_events_queue(hook: Any, name: str = DEFAULT_NAME, region: str | None = None) -> EventsQueue:
    """Make (or find, if ours) the queue, the rule, the policy and the target; see the module."""
    from fargate_provider.exceptions import NotOursError

    check_name(name)
    sqs, events = hook.client("sqs", region), hook.client("events", region)
    url = _existing_queue(sqs, name)
    rule_arn = _existing_rule(events, name)
    # Nothing is changed unless both are absent or ours.
    if url is not None and not _ours(sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}):
        raise NotOursError(f"SQS queue {name} exists without the tag {MANAGED_BY_KEY}={MANAGED_BY_VALUE}: not adopted")
    if rule_arn is not None:
        tags = events.list_tags_for_resource(ResourceARN=rule_arn).get("Tags") or []
        if not _ours({t["Key"]: t["Value"] for t in tags}):
            raise NotOursError(
                f"EventBridge rule {name} exists without the tag {MANAGED_BY_KEY}={MANAGED_BY_VALUE}: not adopted"
            )
    if url is None:
        url = sqs.create_queue(
            QueueName=name,
            Attributes={"MessageRetentionPeriod": str(RETENTION_SECONDS), "SqsManagedSseEnabled": "true"},
            tags={MANAGED_BY_KEY: MANAGED_BY_VALUE},
        )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_arn = events.put_rule(
        Name=name,
        EventPattern=json.dumps(EVENT_PATTERN),
        State="ENABLED",
        Description="ECS's events for Airflow's triggerer (airflow-provider-fargate, [fargate] events_queue_url)",
        Tags=[{"Key": MANAGED_BY_KEY, "Value": MANAGED_BY_VALUE}],
    )["RuleArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeSendsEcsEvents",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    answer = events.put_targets(Rule=name, Targets=[{"Id": TARGET_ID, "Arn": queue_arn}])
    if answer.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge did not take the queue as the rule's target: {answer.get('FailedEntries')}")
    return EventsQueue(name, url, queue_arn, rule_arn)


def delete_events_queue(hook: Any, name: str = DEFAULT_NAME, region: str | None = None) -> list[str]:
    """Remove the rule (its targets first) and the queue of ``name`` that are ours; what was removed."""
    from fargate_provider.exceptions import NotOursError

    check_name(name)
    sqs, events = hook.client("sqs", region), hook.client("events", region)
    removed = []
    rule_arn = _existing_rule(events, name)
    if rule_arn is not None:
        tags = events.list_tags_for_resource(ResourceARN=rule_arn).get("Tags") or []
        if not _ours({t["Key"]: t["Value"] for t in tags}):
            raise NotOursError(f"EventBridge rule {name} is not ours: not deleted")
        targets = [t["Id"] for t in events.list_targets_by_rule(Rule=name).get("Targets", [])]
        if targets:
            events.remove_targets(Rule=name, Ids=targets)
        events.delete_rule(Name=name)
        removed.append(rule_arn)
    url = _existing_queue(sqs, name)
    if url is not None:
        if not _ours(sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}):
            raise NotOursError(f"SQS queue {name} is not ours: not deleted")
        sqs.delete_queue(QueueUrl=url)
        removed.append(url)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fargate_provider.ecs_events_queue", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("action", choices=("create", "delete"))
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"queue and rule name (default {DEFAULT_NAME})")
    parser.add_argument("--conn-id", default="aws_default", help="the Airflow connection to AWS")
    parser.add_argument("--region", help="the connection's Region unless given")
    args = parser.parse_args(argv)
    from fargate_provider.hooks.fargate import FargateHook

    try:
        check_name(args.name)
        hook = FargateHook(aws_conn_id=args.conn_id, region_name=args.region)
        if args.action == "create":
            made = create_events_queue(hook, args.name, args.region)
            print(f"queue {made.queue_url}\nrule {made.rule_arn}")
            print(f"set: AIRFLOW__FARGATE__EVENTS_QUEUE_URL={made.queue_url}")
        else:
            removed = delete_events_queue(hook, args.name, args.region)
            print("\n".join(f"deleted {what}" for what in removed) or "nothing of that name")
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
