"""ECS's input checks, before any handler or moto sees a request: a body that is not a JSON
object, members of the wrong JSON type, missing required members, unknown enum values, numbers
and lengths outside the model's bounds — each answered as ECS answers it, never an HTTP 500.

The rules come from botocore's service model for ECS (the shapes ECS's SDKs are generated from),
walked once per operation and cached. Wording, where ECS's is quoted:
- Wrong scalar types: "STRING_VALUE cannot be converted to Integer", InvalidParameterException
  (artilleryio/artillery#3727, RunTask; aws-actions/amazon-ecs-deploy-task-definition#587).
- Containers where not expected: the JSON protocol's own words, "Start of structure or map found
  where not expected.", "Expected list or null", "Expected null" (measured and quoted in
  floci-io/floci#2686).
- Missing members: "Family can not be blank." (aws-actions/amazon-ecs-deploy-task-definition#630),
  "Container list cannot be empty." (ClientException, awsdocs/aws-cloudformation-user-guide#454),
  "Tasks cannot be empty." (openfresh/ecs-formation#38); other members in the same form.
- Enum values and bounds: the form of ECS's "launchType should be one of [EC2,FARGATE,EXTERNAL].",
  "count must be between 1 and 10." and "taskIds can have at most 100 items.".
- A body that is not JSON (or not an object): the JSON protocol's SerializationException. An
  empty body is an empty object, as AWS's services accept it (Smithy's awsJson protocol tests).
- ECS's documented limits the model does not carry (RunTask count 1-10, startedBy, 16 subnets, 5 security
  groups, 10 containers, …): the table in fargate_rules.request_limits, each row with its source.
Members the model does not know are ignored, as ECS ignores them (forward compatibility).
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from typing import Any

import botocore.session

from fargate_local.moto_bridge import EcsError
from fargate_rules.request_limits import broken_limits

# Java's bounds: ECS reads integer members as int, long members as long.
_BOUNDS = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_TYPE_NAMES = {
    "string": "String",
    "integer": "Integer",
    "long": "Long",
    "boolean": "Boolean",
    "double": "Double",
    "float": "Float",
    "timestamp": "Date",
    "blob": "ByteBuffer",
}
# Missing members ECS answers in its own quoted words (code, message).
_MISSING = {
    ("RegisterTaskDefinition", "family"): ("ClientException", "Family can not be blank."),
    ("RegisterTaskDefinition", "containerDefinitions"): ("ClientException", "Container list cannot be empty."),
    ("DescribeTasks", "tasks"): ("InvalidParameterException", "Tasks cannot be empty."),
}
# Enum members the handlers check themselves, in ECS's quoted words (api_handlers._launch): the
# quote lists three launch types where botocore's model now has four.
_ENUMS_CHECKED_BY_HANDLERS = {("RunTask", "launchType"), ("CreateService", "launchType")}

# moto answers these in one page and never hands out a nextToken, so any token is one ECS did not
# issue: refused in the words listings.py uses for the operations it pages.
_NEVER_PAGED = frozenset(
    {"ListContainerInstances", "ListAttributes", "ListAccountSettings", "DescribeCapacityProviders"}
)
_INVALID_TOKEN = "Invalid token: nextToken was not returned by a previous call with the same parameters."


class _Refused(Exception):
    def __init__(self, code: str, message: str):
        self.code, self.message = code, message


@lru_cache(maxsize=1)
def _ecs_model():
    return botocore.session.get_session().get_service_model("ecs")


@cache
def _input_shape(operation: str):
    model = _ecs_model()
    if operation not in model.operation_names:
        return None
    return model.operation_model(operation).input_shape


def validated_body(operation: str, body_bytes: bytes) -> dict[str, Any]:
    """The request's JSON object, or ``EcsError`` as ECS answers a malformed request."""
    try:
        body = json.loads(body_bytes) if body_bytes.strip() else {}
    except (ValueError, RecursionError) as error:  # RecursionError: JSON nested beyond Python's stack
        raise EcsError("SerializationException", f"Unable to parse the request body as JSON: {error}") from error
    if not isinstance(body, dict):
        raise EcsError("SerializationException", f"{_token(body)} found where the request object was expected.")
    shape = _input_shape(operation)
    if shape is None:
        return body  # an operation ECS does not have: moto answers it (UnknownOperationException)
    try:
        _check_types(shape, body)
        _check_values(operation, shape, body)
    except _Refused as refused:
        raise EcsError(refused.code, refused.message) from None
    # ECS's documented limits beyond the model's bounds (fargate_rules.request_limits: the provider checks
    # the same table before it calls): the first broken row, in its words.
    broken = broken_limits(operation, body, as_ecs=True)
    if broken:
        limit = broken[0][1]
        raise EcsError(limit.code, limit.ecs_message)
    if operation in _NEVER_PAGED and body.get("nextToken") not in (None, ""):
        raise EcsError("InvalidParameterException", _INVALID_TOKEN)
    return body


# ------------------------------------------------------------------ pass 1: JSON types (ECS's deserialisation)


def _token(value: Any) -> str:
    if value is True:
        return "TRUE_VALUE"
    if value is False:
        return "FALSE_VALUE"
    if isinstance(value, (int, float)):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, dict):
        return "START_OBJECT"
    return "VALUE_NULL"


def _type_error(shape, value: Any) -> _Refused:
    if isinstance(value, list):
        return _Refused("InvalidParameterException", "Start of list found where not expected.")
    if isinstance(value, dict):
        return _Refused("InvalidParameterException", "Start of structure or map found where not expected.")
    if shape.type_name == "list":
        return _Refused("InvalidParameterException", "Expected list or null")
    if shape.type_name in ("structure", "map"):
        return _Refused("InvalidParameterException", "Expected null")
    return _Refused(
        "InvalidParameterException",
        f"{_token(value)} cannot be converted to {_TYPE_NAMES.get(shape.type_name, shape.name)}",
    )


def _check_types(shape, value: Any, name: str = "") -> None:
    """Raise _Refused for the first value ECS could not read as ``shape``; null reads as absent."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _type_error(shape, value)
        members = shape.members
        for member_name, item in value.items():
            member = members.get(member_name)
            if member is not None and item is not None:
                _check_types(member, item, member_name)
    elif kind == "list":
        if not isinstance(value, list):
            raise _type_error(shape, value)
        for item in value:
            if item is None:
                raise _Refused("InvalidParameterException", f"{name} can not contain null values.")
            _check_types(shape.member, item, name)
    elif kind == "map":
        if not isinstance(value, dict):
            raise _type_error(shape, value)
        for item in value.values():
            if item is not None:
                _check_types(shape.value, item, name)
    elif kind == "string":
        if not isinstance(value, str):
            raise _type_error(shape, value)
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(shape, value)
        low, high = _BOUNDS[kind]
        if not low <= value <= high:
            raise _Refused("InvalidParameterException", f"NUMBER_VALUE cannot be converted to {_TYPE_NAMES[kind]}")
    elif kind in ("double", "float", "timestamp"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(shape, value)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _type_error(shape, value)


# ------------------------------------------------------------------ pass 2: required members, enums, bounds


def _check_values(operation: str, shape, value: Any, name: str = "") -> None:
    kind = shape.type_name
    if kind == "structure":
        for required in shape.required_members:
            if value.get(required) is None:
                code, message = _MISSING.get(
                    (operation, required),
                    (
                        "ClientException" if operation == "RegisterTaskDefinition" else "InvalidParameterException",
                        f"{required} can not be blank.",
                    ),
                )
                raise _Refused(code, message)
        members = shape.members
        for member_name, item in value.items():
            member = members.get(member_name)
            if member is not None and item is not None:
                _check_values(operation, member, item, member_name)
    elif kind == "list":
        _check_bounds(shape, len(value), name, "items")
        for item in value:
            _check_values(operation, shape.member, item, name)
    elif kind == "map":
        for item in value.values():
            if item is not None:
                _check_values(operation, shape.value, item, name)
    elif kind == "string":
        enum = shape.enum
        if enum and value not in enum and (operation, name) not in _ENUMS_CHECKED_BY_HANDLERS:
            raise _Refused("InvalidParameterException", f"{name} should be one of [{','.join(enum)}].")
        _check_bounds(shape, len(value), name, "characters")
    elif kind in ("integer", "long", "double", "float"):
        metadata = shape.metadata
        low, high = metadata.get("min"), metadata.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            raise _Refused("InvalidParameterException", f"{name} must be between {_number(low)} and {_number(high)}.")


def _check_bounds(shape, length: int, name: str, unit: str) -> None:
    metadata = shape.metadata
    low, high = metadata.get("min"), metadata.get("max")
    if high is not None and length > high:
        raise _Refused("InvalidParameterException", f"{name} can have at most {high} {unit}.")
    if low is not None and length < low:
        raise _Refused("InvalidParameterException", f"{name} must have at least {low} {unit}.")


def _number(bound: Any) -> str:
    if bound is None:
        return "any"
    return str(int(bound)) if float(bound).is_integer() else str(bound)
