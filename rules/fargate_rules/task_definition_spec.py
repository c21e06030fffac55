"""Task-definition specs: load them (JSON or JSON5), validate them for Fargate, compare them.

A spec is the document ``aws ecs register-task-definition --cli-input-json`` takes. The
structure (known keys, types) is checked against ECS's own API model as botocore ships it,
so it never drifts from what ECS accepts; the Fargate rules ECS only enforces at run time
(cpu/memory pairs, awsvpc ports, container dependencies, secrets) are checked here, so that
every mistake is reported at once, by field path, before any AWS call.
"""

from __future__ import annotations

import copy
import difflib
import graphlib
import json
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import json5
from botocore.model import Shape
from botocore.session import get_session
from botocore.validate import ParamValidator

from fargate_rules.arns import is_secret_reference
from fargate_rules.input_errors import InputError
from fargate_rules.registration_rules import BrokenRule, validator_rules
from fargate_rules.request_limits import broken_limits
from fargate_rules.sizes import (
    FARGATE_MEMORY_BY_CPU,
    SizeError,
    check_fargate_size,
    parse_cpu,
    parse_memory,
)
from fargate_rules.validation import ECS_NAME_RE

SPEC_FILE_SUFFIXES = (".json", ".json5")
MAX_TASK_DEFINITION_BYTES = 65_536  # ECS service quota "Task definition size": 64 KiB
MAX_SPEC_FILE_BYTES = 262_144  # a spec file (comments and all) before rendering and parsing
MAX_IMAGE_LENGTH = 255  # ContainerDefinition.image: "Up to 255 letters …"
DEPENDS_ON_CONDITIONS = ("START", "COMPLETE", "SUCCESS", "HEALTHY")
ECS_WORDS_PREFIX = "ECS refuses this:"

_FAMILY_RE = _CONTAINER_NAME_RE = ECS_NAME_RE


class TaskDefinitionError(InputError):
    """A task definition that ECS/Fargate would refuse. ``problems`` holds (field path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None):
        self.problems = problems
        self.source = source
        where = f" ({source})" if source else ""
        lines = "\n".join(f"  - {path}: {message}" for path, message in problems)
        super().__init__(f"Invalid task definition{where}:\n{lines}")


# --------------------------------------------------------------------------- loading


def is_spec_path(source: Any) -> bool:
    """A path to a spec file, as opposed to a dict or JSON text."""
    if isinstance(source, Path):
        return True
    return isinstance(source, str) and "\n" not in source and source.strip().endswith(SPEC_FILE_SUFFIXES)


def resolve_spec_path(
    source: str | Path, search_paths: Iterable[str | Path] = (), *, allow_any_path: bool = False
) -> Path:
    """The spec file ``source`` names: relative paths are looked up in ``search_paths`` (the DAG's
    folder first, then ``template_searchpath``); the file must lie under one of them — no
    ``../`` out of it, no absolute path elsewhere — unless ``allow_any_path``."""
    path = Path(source).expanduser()
    folders = [Path(folder).resolve() for folder in search_paths]
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [folder / path for folder in folders] or ([path] if allow_any_path else [])
        candidates = [c for c in candidates if c.exists()] or candidates[:1]
    if not candidates:
        raise TaskDefinitionError(
            [("task_definition", f"file {str(source)!r}: relative paths need the DAG's folder or template_searchpath")]
        )
    found = candidates[0]
    if not allow_any_path:
        real = found.resolve()
        if not any(real == folder or folder in real.parents for folder in folders):
            raise TaskDefinitionError(
                [
                    (
                        "task_definition",
                        (
                            f"file {str(source)!r} is outside the DAG's folder and template_searchpath "
                            f"({', '.join(map(str, folders)) or 'none'}); move it there, or pass allow_any_path=True"
                        ),
                    )
                ]
            )
    return found


def _read_spec_file(path: Path) -> str:
    where = f"file {str(path)!r}"
    if path.is_dir():
        raise TaskDefinitionError([("task_definition", f"{where} is a directory, not a .json/.json5 file")])
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_FILE_BYTES:
            raise TaskDefinitionError(
                [
                    (
                        "task_definition",
                        (
                            f"{where} is {size:,} bytes; spec files are at most {MAX_SPEC_FILE_BYTES:,} bytes "
                            f"(ECS takes at most {MAX_TASK_DEFINITION_BYTES:,} per task definition)"
                        ),
                    )
                ]
            )
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TaskDefinitionError([("task_definition", f"{where} is not UTF-8 text")]) from None
    except OSError as err:
        raise TaskDefinitionError([("task_definition", f"cannot read {where}: {err.strerror or err}")]) from None


def load_task_definition(
    source: dict[str, Any] | str | Path,
    *,
    search_paths: Iterable[str | Path] = (),
    render: Callable[[str], str] | None = None,
    allow_any_path: bool = False,
) -> dict[str, Any]:
    """Return the spec as a dict from a dict, a .json/.json5 path, or JSON(5) text.

    JSON5 is accepted everywhere because people write these files with ``//`` comments and
    trailing commas, as AWS's tutorials show them. ``render`` (Jinja, from the operator)
    is applied to a file's text before parsing; its errors name the file.
    """
    if isinstance(source, dict):
        return copy.deepcopy(source)
    if is_spec_path(source):
        path = resolve_spec_path(source, search_paths, allow_any_path=allow_any_path)
        text = _read_spec_file(path)
        if render:
            try:
                text = render(text)
            except Exception as err:  # Jinja's errors (UndefinedError, ZeroDivisionError in an expression, …)
                raise TaskDefinitionError(
                    [("task_definition", f"the template {str(path)!r} failed to render: {type(err).__name__}: {err}")]
                ) from None
        return _parse_text(text, source=str(path))
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return _parse_text(source, source=None)
    raise TaskDefinitionError(
        [
            (
                "task_definition",
                (
                    "expected a dict, JSON/JSON5 text, or a path to a .json/.json5 file; "
                    f"got {type(source).__name__} {str(source)[:80]!r}"
                ),
            )
        ]
    )


def _parse_text(text: str, source: str | None) -> dict[str, Any]:
    if len(text) > MAX_SPEC_FILE_BYTES:  # JSON5 parsing is slow on huge input: refuse before it
        raise TaskDefinitionError(
            [
                (
                    "task_definition",
                    (
                        f"is {len(text):,} characters; ECS takes at most "
                        f"{MAX_TASK_DEFINITION_BYTES:,} bytes per task definition"
                    ),
                )
            ],
            source=source,
        )
    try:
        spec = json5.loads(text)
    except ValueError as err:
        raise TaskDefinitionError([("task_definition", f"not valid JSON/JSON5: {err}")], source=source) from None
    if not isinstance(spec, dict):
        raise TaskDefinitionError(
            [("task_definition", f"the document must be a JSON object, got {type(spec).__name__}")], source=source
        )
    return spec


# --------------------------------------------------------------------------- the ECS API model


@cache
def _register_input_shape() -> Shape:
    model = get_session().get_service_model("ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape


def registrable_keys() -> tuple[str, ...]:
    """Top-level keys RegisterTaskDefinition takes, per botocore's ECS model."""
    return tuple(_register_input_shape().members)


def _path(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else key


def _structure_problems(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """Unknown keys, missing required keys and wrong types, judged by ECS's API model."""
    return model_problems(spec, _register_input_shape())


def run_task_overrides_problems(overrides: Any, field: str = "overrides") -> list[tuple[str, str]]:
    """RunTask's ``overrides`` (a TaskOverride) judged by ECS's model, plus Fargate sizes."""
    shape = get_session().get_service_model("ecs").shape_for("TaskOverride")
    if not isinstance(overrides, dict):
        return [(field, f"must be a mapping (a TaskOverride), got {type(overrides).__name__}")]
    overrides = copy.deepcopy(overrides)
    for key in ("cpu", "memory"):  # strings in the model; accept numbers as for task definitions
        if isinstance(overrides.get(key), int) and not isinstance(overrides.get(key), bool):
            overrides[key] = str(overrides[key])
    problems = model_problems(overrides, shape, field)
    limits = [
        BrokenRule(field + rule.path[len("overrides") :], rule.ecs_message, rule.fix)
        for rule in limit_rules("RunTask", {"overrides": overrides})
    ]
    problems = with_ecs_words(problems, limits)
    sizes = {}
    for key, parse in (("cpu", parse_cpu), ("memory", parse_memory)):
        if isinstance(overrides.get(key), str):
            try:
                sizes[key] = parse(overrides[key])
            except SizeError as err:
                problems.append((f"{field}.{key}", str(err)))
    if len(sizes) == 2:
        try:
            check_fargate_size(sizes["cpu"], sizes["memory"])
        except SizeError as err:
            problems.append((f"{field}.memory" if sizes["cpu"] in FARGATE_MEMORY_BY_CPU else f"{field}.cpu", str(err)))
    elif "cpu" in sizes and sizes["cpu"] not in FARGATE_MEMORY_BY_CPU:
        problems.append(
            (
                f"{field}.cpu",
                (
                    f"cpu {sizes['cpu']} is not a Fargate size; "
                    f"allowed cpu units: {', '.join(map(str, FARGATE_MEMORY_BY_CPU))}"
                ),
            )
        )
    return _dedupe(problems)


def model_problems(params: Any, shape: Shape, prefix: str = "") -> list[tuple[str, str]]:
    """botocore's client-side validation against an ECS shape, as (field path, message) pairs."""
    report = ParamValidator().validate(params, shape)
    problems = []
    for kind, name, details in report._errors:  # botocore keeps the structured errors here
        where = _path(prefix, name.lstrip(".")) if name.lstrip(".") else prefix
        if kind == "unknown field":
            unknown = details["unknown_param"]
            valid = details["valid_names"]
            close = difflib.get_close_matches(unknown, valid, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append((_path(where, unknown), f"unknown key; {hint}allowed keys: {', '.join(valid)}"))
        elif kind == "missing required field":
            problems.append((_path(where, details["required_name"]), "is required"))
        elif kind == "invalid type":
            # Never echo the value: it may be an environment value or a secret.
            allowed = " or ".join(t.split("'")[1] if "'" in t else t for t in details["valid_types"])
            got = type(details["param"]).__name__
            problems.append((where, f"must be of type {allowed}, got {got}"))
        else:
            problems.append((where or "task_definition", f"{kind}: {details}"))
    problems.extend(_enum_problems(params, shape, prefix))
    return problems


def _enum_problems(value: Any, shape: Shape, where: str) -> list[tuple[str, str]]:
    """botocore does not check enums client-side; ECS does, so we do too."""
    problems: list[tuple[str, str]] = []
    if shape.type_name == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                problems += _enum_problems(item, shape.members[key], _path(where, key))
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            problems += _enum_problems(item, shape.member, _path(where, index))
    elif shape.type_name == "string" and isinstance(value, str) and shape.enum and value not in shape.enum:
        problems.append((where, f"{value!r} is not allowed; allowed: {', '.join(shape.enum)}"))
    return problems


# --------------------------------------------------------------------------- validation


def validate_task_definition(spec: dict[str, Any], *, family: str | None = None) -> dict[str, Any]:
    """Check ``spec`` for Fargate and return the request to send to ECS.

    Raises TaskDefinitionError listing every problem by field path. The result has the
    defaults a Fargate task definition needs (requiresCompatibilities FARGATE, networkMode
    awsvpc) and cpu/memory in the canonical unit strings ECS stores ("1024", "2048").
    """
    spec = copy.deepcopy(spec)
    if family:
        spec["family"] = family
    spec.setdefault("requiresCompatibilities", ["FARGATE"])
    fargate = isinstance(spec["requiresCompatibilities"], list) and "FARGATE" in spec["requiresCompatibilities"]
    if fargate:
        spec.setdefault("networkMode", "awsvpc")
    # ECS's model types task cpu/memory as strings; JSON files naturally say 256. Accept both.
    for key in ("cpu", "memory"):
        if isinstance(spec.get(key), int) and not isinstance(spec.get(key), bool):
            spec[key] = str(spec[key])

    problems = _structure_problems(spec)
    problems += _family_problems(spec)
    if fargate:
        problems += _fargate_problems(spec)
    containers = spec.get("containerDefinitions")
    if isinstance(containers, list):
        problems += _container_problems(containers, awsvpc=spec.get("networkMode") == "awsvpc", task=spec)
    size = len(json.dumps(spec, separators=(",", ":"), default=str).encode())
    if size > MAX_TASK_DEFINITION_BYTES:
        problems.append(
            ("task_definition", f"is {size:,} bytes as JSON; ECS takes at most {MAX_TASK_DEFINITION_BYTES:,} (64 KiB)")
        )
    # ECS's own refusals, in its words (the emulator answers with the same tables).
    problems = with_ecs_words(problems, validator_rules(spec) + limit_rules("RegisterTaskDefinition", spec))
    if problems:
        raise TaskDefinitionError(_dedupe(problems))
    return spec


def limit_rules(operation: str, request: dict[str, Any]) -> list[BrokenRule]:
    """ECS's request limits (request_limits) ``request`` breaks, as rules in ECS's words."""
    return [
        BrokenRule(where, limit.ecs_message, f"{limit.allowed} ({limit.source})")
        for where, limit in broken_limits(operation, request)
    ]


def _covers(path: str, rule_path: str) -> bool:
    return path == rule_path or path.startswith((rule_path + ".", rule_path + "["))


def with_ecs_words(problems: list[tuple[str, str]], rules: list[BrokenRule]) -> list[tuple[str, str]]:
    """``problems`` with each broken ECS rule in ECS's words: added to the validator's own problem for
    the same field (which says more: the allowed values), else reported on its own with the fix."""
    result = list(problems)
    for rule in rules:
        own = next((i for i, (path, _) in enumerate(result) if path == rule.path), None)
        if own is None and "[" in rule.path:  # a rule on one container: the validator's problem may be deeper
            own = next((i for i, (path, _) in enumerate(result) if _covers(path, rule.path)), None)
        if own is not None and ECS_WORDS_PREFIX not in result[own][1]:
            path, message = result[own]
            result[own] = (path, f"{message} ({ECS_WORDS_PREFIX} {rule.ecs_message})")
        else:
            result.append((rule.path, f"{ECS_WORDS_PREFIX} {rule.ecs_message} Fix: {rule.fix}"))
    return result


def _dedupe(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(problems))


def _family_problems(spec: dict[str, Any]) -> list[tuple[str, str]]:
    family = spec.get("family")
    if isinstance(family, str) and not _FAMILY_RE.match(family):
        return [("family", "must be 1-255 letters, numbers, hyphens or underscores")]
    return []


def _fargate_problems(spec: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    if spec.get("networkMode") != "awsvpc":
        problems.append(("networkMode", f"{spec.get('networkMode')!r} is not allowed for FARGATE; allowed: 'awsvpc'"))
    cpu = memory = None
    for key, parse in (("cpu", parse_cpu), ("memory", parse_memory)):
        if key not in spec:
            problems.append((key, "is required for FARGATE (a task-level size, e.g. cpu '256' and memory '512')"))
            continue
        if not isinstance(spec[key], str):
            continue  # already reported as a type problem
        try:
            value = parse(spec[key])
        except SizeError as err:
            problems.append((key, str(err)))
            continue
        spec[key] = str(value)
        if key == "cpu":
            cpu = value
        else:
            memory = value
    if cpu is not None and memory is not None:
        try:
            check_fargate_size(cpu, memory)
        except SizeError as err:
            problems.append(("cpu" if cpu not in FARGATE_MEMORY_BY_CPU else "memory", str(err)))
    if spec.get("pidMode") not in (None, "task"):
        problems.append(("pidMode", "FARGATE supports only 'task'"))
    # ipcMode and ephemeralStorage: registration_rules.fargate_task_rules (ECS's words, the emulator's too)
    return problems


def _container_problems(containers: list[Any], *, awsvpc: bool, task: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not containers:
        return [("containerDefinitions", "must list at least one container")]
    names: dict[str, int] = {}
    for index, container in enumerate(containers):
        if not isinstance(container, dict):
            continue
        base = f"containerDefinitions[{index}]"
        name = container.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append((f"{base}.name", "is required: a non-empty container name"))
        elif not _CONTAINER_NAME_RE.match(name):
            problems.append((f"{base}.name", "must be 1-255 letters, numbers, hyphens or underscores"))
        elif name in names:
            problems.append((f"{base}.name", f"{name!r} is already used by containerDefinitions[{names[name]}]"))
        else:
            names[name] = index
        image = container.get("image")
        if not isinstance(image, str) or not image.strip():
            problems.append(
                (f"{base}.image", "is required: a non-empty image reference (e.g. 'public.ecr.aws/nginx/nginx:latest')")
            )
        elif len(image) > MAX_IMAGE_LENGTH:
            problems.append((f"{base}.image", f"is {len(image):,} characters; ECS allows at most {MAX_IMAGE_LENGTH}"))
        problems += _port_problems(container, base, awsvpc)
        problems += _variable_problems(container, base)
        memory, reservation = container.get("memory"), container.get("memoryReservation")
        if isinstance(memory, int) and isinstance(reservation, int) and reservation > memory:
            problems.append((f"{base}.memoryReservation", f"must not exceed memory ({memory})"))

    if not any(isinstance(c, dict) and c.get("essential", True) for c in containers):
        problems.append(("containerDefinitions", "at least one container must be essential (essential: true)"))
    problems += _dependency_problems(containers, names)
    problems += _container_size_problems(containers, task)
    return problems


def _port_problems(container: dict[str, Any], base: str, awsvpc: bool) -> list[tuple[str, str]]:
    problems = []
    for index, mapping in enumerate(container.get("portMappings") or []):
        if not isinstance(mapping, dict):
            continue
        where = f"{base}.portMappings[{index}]"
        port, host = mapping.get("containerPort"), mapping.get("hostPort")
        if isinstance(port, int) and not 1 <= port <= 65535:
            problems.append((f"{where}.containerPort", "must be between 1 and 65535"))
        if awsvpc and host is not None and port is not None and host != port:
            problems.append(
                (f"{where}.hostPort", f"must equal containerPort ({port}) under networkMode awsvpc, or be omitted")
            )
    return problems


def _variable_problems(container: dict[str, Any], base: str) -> list[tuple[str, str]]:
    problems = []
    seen: dict[str, str] = {}
    for key in ("environment", "secrets"):
        for index, item in enumerate(container.get(key) or []):
            if not isinstance(item, dict):
                continue
            where = f"{base}.{key}[{index}]"
            name = item.get("name")
            if isinstance(name, str):
                if not name:
                    problems.append((f"{where}.name", "must not be empty"))
                elif name in seen:
                    problems.append((f"{where}.name", f"{name!r} is already defined at {seen[name]}"))
                else:
                    seen[name] = where
            if key == "secrets" and isinstance(item.get("valueFrom"), str):
                value_from = item["valueFrom"]
                if not is_secret_reference(value_from):
                    # The reference is not secret itself, but keep it out of the message anyway.
                    problems.append(
                        (
                            f"{where}.valueFrom",
                            (
                                "must be a Secrets Manager secret ARN (arn:aws:secretsmanager:…:secret:…), "
                                "an SSM parameter ARN (arn:aws:ssm:…:parameter/…) or an SSM parameter name"
                            ),
                        )
                    )
    return problems


def _dependency_problems(containers: list[Any], names: dict[str, int]) -> list[tuple[str, str]]:
    problems = []
    graph: dict[str | None, set[str]] = {}  # (a container without a name is None here)
    for index, container in enumerate(containers):
        if not isinstance(container, dict):
            continue
        for dep_index, dependency in enumerate(container.get("dependsOn") or []):
            if not isinstance(dependency, dict):
                continue
            where = f"containerDefinitions[{index}].dependsOn[{dep_index}]"
            target, condition = dependency.get("containerName"), dependency.get("condition")
            if condition not in DEPENDS_ON_CONDITIONS:
                problems.append(
                    (f"{where}.condition", f"{condition!r} is not allowed; allowed: {', '.join(DEPENDS_ON_CONDITIONS)}")
                )
            if not isinstance(target, str):
                continue
            if target not in names:
                known = ", ".join(names) or "none"
                problems.append(
                    (
                        f"{where}.containerName",
                        f"{target!r} is not a container of this task definition; containers: {known}",
                    )
                )
                continue
            if target == container.get("name"):
                problems.append((f"{where}.containerName", "a container cannot depend on itself"))
                continue
            graph.setdefault(container.get("name"), set()).add(target)
            target_def = containers[names[target]]
            if condition == "HEALTHY" and not target_def.get("healthCheck"):
                problems.append((f"{where}.condition", f"HEALTHY needs a healthCheck on container {target!r}"))
            if condition in ("COMPLETE", "SUCCESS") and target_def.get("essential", True):
                problems.append(
                    (
                        f"{where}.condition",
                        f"{condition} cannot wait on essential container {target!r}; mark it essential: false",
                    )
                )
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        cycle = " -> ".join(err.args[1])
        problems.append(("containerDefinitions", f"dependsOn forms a cycle: {cycle}"))
    return problems


def _container_size_problems(containers: list[Any], task: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for key, parse in (("cpu", parse_cpu), ("memory", parse_memory)):
        try:
            task_value = parse(task[key]) if isinstance(task.get(key), str) else None
        except SizeError:
            continue
        total = sum(c.get(key) or 0 for c in containers if isinstance(c, dict) and isinstance(c.get(key), int))
        if task_value is not None and total > task_value:
            problems.append(
                (
                    f"containerDefinitions[*].{key}",
                    f"containers ask for {total} in total, more than the task's {key} {task_value}",
                )
            )
    return problems


# --------------------------------------------------------------------------- comparison


def comparable(task_definition: dict[str, Any]) -> dict[str, Any]:
    """The part of a task definition that decides what runs, as ECS would store it.

    Works on both a request we are about to send and what DescribeTaskDefinition returns:
    keeps only registrable keys, drops tags (they carry the Airflow run id), fills the
    defaults ECS fills in and drops empty values, so equal meaning compares equal.
    """
    awsvpc = task_definition.get("networkMode") == "awsvpc"
    result: dict[str, Any] = {}
    for key in registrable_keys():
        if key == "tags" or key not in task_definition:
            continue
        result[key] = copy.deepcopy(task_definition[key])
    for key, parse in (("cpu", parse_cpu), ("memory", parse_memory)):
        if key in result:
            try:
                result[key] = str(parse(result[key]))
            except SizeError:
                pass
    if isinstance(result.get("requiresCompatibilities"), list):
        result["requiresCompatibilities"] = sorted(result["requiresCompatibilities"])
    result["containerDefinitions"] = [
        _comparable_container(c, awsvpc) for c in result.get("containerDefinitions") or [] if isinstance(c, dict)
    ]
    cleaned: dict[str, Any] = _drop_empty(result)
    return cleaned


def _comparable_container(container: dict[str, Any], awsvpc: bool) -> dict[str, Any]:
    container = copy.deepcopy(container)
    container.setdefault("essential", True)
    if container.get("cpu") == 0:
        del container["cpu"]
    for mapping in container.get("portMappings") or []:
        mapping.setdefault("protocol", "tcp")
        if awsvpc and "containerPort" in mapping:
            mapping.setdefault("hostPort", mapping["containerPort"])
    for key in ("environment", "secrets"):
        if isinstance(container.get(key), list):
            container[key] = sorted(container[key], key=lambda item: str(item.get("name")))
    return container


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


def same_task_definition(requested: dict[str, Any], registered: dict[str, Any]) -> bool:
    """True when registering ``requested`` would give what ``registered`` already is."""
    return comparable(requested) == comparable(registered)
