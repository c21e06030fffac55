"""The tags by which the provider finds a network when a DAG asks for "private" or "public"
subnets, and which the local emulator's ready-made network carries.

Tag your subnets ``fargate:subnet-kind=private|public`` and the tasks' security group
``fargate:security-group=tasks``.
"""

from __future__ import annotations

SUBNET_KIND_TAG = "fargate:subnet-kind"
SECURITY_GROUP_TAG = "fargate:security-group"
SECURITY_GROUP_TAG_VALUE = "tasks"
