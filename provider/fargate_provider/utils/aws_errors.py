"""Reading AWS's error answers by their codes: which ones mean "it is not there", which "slow down"."""

from __future__ import annotations

from botocore.exceptions import ClientError

# Codes that say it outright.
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "ClusterNotFoundException", "ServiceNotFoundException"})
# Codes of "too many calls" (ECS and CloudWatch Logs answer ThrottlingException; others the rest).
THROTTLING_CODES = ("ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded")
# ECS answers an unknown task definition or revision with the generic ClientException; these
# are its messages for that case (DescribeTaskDefinition, DeregisterTaskDefinition), nothing else.
TASK_DEFINITION_NOT_FOUND_MESSAGES = (
    "Unable to describe task definition.",
    "The specified task definition does not exist.",
    "Revision is missing.",
)


def error_code(err: ClientError) -> str:
    code: str = err.response.get("Error", {}).get("Code", "")
    return code


def has_code(err: ClientError, *codes: str) -> bool:
    return error_code(err) in codes


def is_not_found(err: ClientError) -> bool:
    """True for AWS's "no such resource" answers, by code (and, for ECS's ClientException, by
    its documented not-found messages); a throttle or an access denial is never "not found"."""
    code = error_code(err)
    if code in NOT_FOUND_CODES:
        return True
    message = err.response.get("Error", {}).get("Message", "")
    return code == "ClientException" and message.startswith(TASK_DEFINITION_NOT_FOUND_MESSAGES)
