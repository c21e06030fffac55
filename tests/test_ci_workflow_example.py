"""examples/ci/preview-environment.yml: a valid GitHub Actions workflow (GitHub's schema, as vendored by
check-jsonschema) that does what the guide says: `fargate-env up` on every push to a pull request,
`fargate-env down` when it closes, each command accepted by the real CLI's parser.

No network, no Airflow: the workflow is read as data. Its ``if:`` expressions are evaluated by a small
evaluator of GitHub's expression syntax (the subset the file uses), and its ``${{ ... }}`` expressions in
commands are replaced by plausible values before the command line is split as the shell would.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "ci" / "preview-environment.yml"

SHA = "3f2c1ab9d0e4c5b6a7f8e9d0c1b2a3f4e5d6c7b8"
# What the ${{ ... }} expressions in commands and env stand for in a pull request #42's run.
EXPRESSION_VALUES = {
    "github.event.pull_request.number": "42",
    "github.event.pull_request.head.sha": SHA,
    "github.event.pull_request.html_url": "https://github.com/org/app/pull/42",
    "github.actor": "octocat",
    "vars.AIRFLOW_URL": "https://airflow.example.com",
    "vars.REGISTRY": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    "vars.IMAGE_NAME": "org/app",
}
# Shell variables a run block sets itself (the owner, made a valid tag value from github.actor).
SHELL_VALUES = {"owner": "octocat"}
ACTIONS_OPEN = ("opened", "synchronize", "reopened")
# An AWS tag value: what --source and --owner may hold.
TAG_VALUE = re.compile(r"^[A-Za-z0-9 _.:/=+\-@]{0,256}$")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class WorkflowLoader(yaml.SafeLoader):
    """YAML 1.2's booleans only (true/false): ``on`` stays the string "on", as GitHub reads it."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


WorkflowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_workflow() -> dict[str, Any]:
    return yaml.load(WORKFLOW.read_text(encoding="utf-8"), Loader=WorkflowLoader)


def workflow_validator() -> jsonschema.protocols.Validator:
    resource = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "github-workflows.json"
    schema = json.loads(resource.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def steps() -> list[dict[str, Any]]:
    return [step for job in load_workflow()["jobs"].values() for step in job.get("steps", [])]


def the_job() -> dict[str, Any]:
    (job,) = load_workflow()["jobs"].values()
    return job


# --- GitHub's expression syntax (the subset the workflow uses) -------------------------------------------

TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||!|\(|\)|,)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z_][A-Za-z0-9_\-]*)*))"
)
STATUS_FUNCTIONS = ("success", "failure", "always", "cancelled")


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot read the expression {text!r} at {text[position:]!r}")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "string":
            value = value[1:-1].replace("''", "'")
        elif kind == "number":
            value = float(value)
        tokens.append((kind, value))
        position = match.end()
    return tokens


def lookup(context: dict[str, Any], path: str) -> Any:
    if path in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[path]
    value: Any = context
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()  # GitHub compares strings ignoring case
    return left == right


def evaluate(expression: str, context: dict[str, Any], status: str = "success") -> Any:
    """The value of an ``if:`` (with or without ``${{ }}``), GitHub's way: ``&&``/``||`` return an
    operand, and an expression without a status function gets ``success() &&`` in front."""
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    tokens = tokenize(text)
    if not any(kind == "name" and value in STATUS_FUNCTIONS for kind, value in tokens):
        tokens = [("name", "success"), ("op", "("), ("op", ")"), ("op", "&&"), ("op", "("), *tokens, ("op", ")")]
    functions = {
        "success": status == "success",
        "failure": status == "failure",
        "always": True,
        "cancelled": status == "cancelled",
    }
    position = 0

    def peek() -> tuple[str, Any] | None:
        return tokens[position] if position < len(tokens) else None

    def take(op: str | None = None) -> tuple[str, Any]:
        nonlocal position
        token = peek()
        if token is None or (op is not None and token != ("op", op)):
            raise ValueError(f"expected {op!r} in {expression!r}, found {token!r}")
        position += 1
        return token

    def disjunction() -> Any:
        value = conjunction()
        while peek() == ("op", "||"):
            take()
            right = conjunction()
            value = value or right
        return value

    def conjunction() -> Any:
        value = comparison()
        while peek() == ("op", "&&"):
            take()
            right = comparison()
            value = value and right
        return value

    def comparison() -> Any:
        value = unary()
        while peek() in (("op", "=="), ("op", "!=")):
            (_, op) = take()
            right = unary()
            value = equal(value, right) if op == "==" else not equal(value, right)
        return value

    def unary() -> Any:
        if peek() == ("op", "!"):
            take()
            return not unary()
        return primary()

    def primary() -> Any:
        kind, value = take()
        if kind in ("string", "number"):
            return value
        if (kind, value) == ("op", "("):
            inner = disjunction()
            take(")")
            return inner
        if kind == "name" and peek() == ("op", "("):
            take("(")
            take(")")
            if value not in functions:
                raise ValueError(f"unknown function {value}() in {expression!r}")
            return functions[value]
        if kind == "name":
            return lookup(context, value)
        raise ValueError(f"unexpected {value!r} in {expression!r}")

    result = disjunction()
    if peek() is not None:
        raise ValueError(f"left over {tokens[position:]!r} in {expression!r}")
    return result


def event_context(action: str, head_repo: str = "org/app") -> dict[str, Any]:
    return {
        "github": {
            "repository": "org/app",
            "event_name": "pull_request",
            "event": {"action": action, "pull_request": {"number": 42, "head": {"repo": {"full_name": head_repo}}}},
        },
        "steps": {},
    }


def runs(item: dict[str, Any], context: dict[str, Any]) -> bool:
    return bool(evaluate(str(item.get("if", "success()")), context))


# --- fargate-env command lines ---------------------------------------------------------------------------


def substitute_expressions(text: str) -> str:
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("secrets."):
            return "secret-value"
        if expression not in EXPRESSION_VALUES:
            raise AssertionError(f"the test has no plausible value for ${{{{ {expression} }}}}: add one")
        return EXPRESSION_VALUES[expression]

    return EXPRESSION.sub(value, text)


def fargate_env_invocations(step: dict[str, Any]) -> list[list[str]]:
    """The argument lists (after ``fargate-env``) of every fargate-env command in a step's ``run:``,
    with ``${{ }}`` expressions and the step's environment variables filled in."""
    env = {name: substitute_expressions(str(value)) for name, value in (step.get("env") or {}).items()}

    def shell_variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in env:
            return env[name]
        if name in SHELL_VALUES:
            return SHELL_VALUES[name]
        raise AssertionError(f"the test does not know what ${name} holds in {step.get('name')!r}")

    script = substitute_expressions(step["run"]).replace("\\\n", " ")
    invocations = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        for start, token in enumerate(tokens):
            if token != "fargate-env" or (start and tokens[start - 1] not in (";", "&&", "||", "|")):
                continue
            argv = []
            for word in tokens[start + 1 :]:
                if word and set(word) <= set(";&|<>()"):
                    break  # the command ends at the shell's next operator or redirection
                argv.append(re.sub(r"\$(?:\{(\w+)\}|(\w+))", shell_variable, word))
            invocations.append(argv)
    return invocations


def option(argv: list[str], name: str) -> str:
    assert argv.count(name) == 1, f"{name} should be given once in {argv}"
    return argv[argv.index(name) + 1]


def step_running(command: str) -> dict[str, Any]:
    (step,) = [step for step in steps() if re.search(rf"\bfargate-env\s+{command}\b", step.get("run", ""))]
    return step


# --- the tests -------------------------------------------------------------------------------------------


def test_on_stays_a_string_key():
    workflow = load_workflow()
    assert "on" in workflow and True not in workflow
    assert evaluate("${{ github.event.action == 'CLOSED' }}", event_context("closed")) is True
    assert evaluate("!cancelled() && 'a' || 'b'", event_context("opened")) == "a"


def test_the_workflow_matches_githubs_schema():
    workflow_validator().validate(load_workflow())


@pytest.mark.parametrize(
    "break_it",
    [
        pytest.param(lambda workflow: workflow.update({"trigger": "push"}), id="unknown-top-level-key"),
        pytest.param(lambda workflow: the_job_of(workflow).pop("runs-on"), id="job-without-runs-on"),
        pytest.param(lambda workflow: workflow.pop("jobs"), id="no-jobs"),
        pytest.param(lambda workflow: the_job_of(workflow)["steps"][0].update({"run": 1, "uses": 2}), id="bad-step"),
    ],
)
def test_the_schema_check_catches_a_broken_workflow(break_it):
    workflow = copy.deepcopy(load_workflow())
    break_it(workflow)
    with pytest.raises(jsonschema.ValidationError):
        workflow_validator().validate(workflow)


def the_job_of(workflow: dict[str, Any]) -> dict[str, Any]:
    (job,) = workflow["jobs"].values()
    return job


def test_it_runs_on_pull_requests_opened_pushed_reopened_and_closed():
    workflow = load_workflow()
    assert list(workflow["on"]) == ["pull_request"]
    assert set(workflow["on"]["pull_request"]["types"]) == {*ACTIONS_OPEN, "closed"}


def test_permissions_are_minimal_and_pushes_to_one_pull_request_never_race():
    workflow = load_workflow()
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert all("permissions" not in job for job in workflow["jobs"].values())
    assert workflow["concurrency"]["group"] == "preview-${{ github.event.pull_request.number }}"
    assert workflow["concurrency"].get("cancel-in-progress") is not True  # a cancelled --wait leaves Airflow's run


def test_the_job_runs_for_this_repositorys_branches_not_for_forks():
    job = the_job()
    for action in (*ACTIONS_OPEN, "closed"):
        assert runs(job, event_context(action)), action
        assert not runs(job, event_context(action, head_repo="someone/fork")), action


@pytest.mark.parametrize("action", [*ACTIONS_OPEN, "closed"])
def test_up_runs_while_the_pull_request_is_open_and_down_when_it_closes(action):
    context = event_context(action)
    up, down = step_running("up"), step_running("down")
    assert runs(up, context) is (action != "closed")
    assert runs(down, context) is (action == "closed")
    build = [step for step in steps() if str(step.get("uses", "")).startswith("docker/build-push-action@")]
    assert len(build) == 1 and runs(build[0], context) is (action != "closed")
    comment = [step for step in steps() if str(step.get("uses", "")).startswith("actions/github-script@")]
    assert len(comment) == 1
    # The comment reports failures too: it runs unless the run was cancelled.
    assert evaluate(str(comment[0]["if"]), context, status="failure")
    assert not evaluate(str(comment[0]["if"]), context, status="cancelled")


def test_every_fargate_env_command_is_accepted_by_the_cli():
    from fargate_provider.environments.cli import build_parser  # here: the schema tests run without it

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["up", "pr-42", "--no-such-option"])  # the parser does refuse
    invocations = [argv for step in steps() if "run" in step for argv in fargate_env_invocations(step)]
    assert {argv[0] for argv in invocations} == {"up", "down"}, invocations
    for argv in invocations:
        try:
            parser.parse_args(argv)
        except SystemExit as exit_:
            pytest.fail(f"fargate-env {shlex.join(argv)}: refused by the CLI's parser (exit {exit_.code})")


def test_up_creates_pr_number_with_the_pushed_image_and_down_destroys_it():
    (up,) = fargate_env_invocations(step_running("up"))
    build = next(step for step in steps() if str(step.get("uses", "")).startswith("docker/build-push-action@"))
    pushed = substitute_expressions(str(build["with"]["tags"]))
    assert build["with"]["push"] is True
    assert pushed.endswith(f":{SHA}"), "tagged with the pull request's head commit"
    assert up[:2] == ["up", "pr-42"]
    assert option(up, "--image") == pushed
    assert option(up, "--owner") == "octocat"
    assert option(up, "--source") == f"https://github.com/org/app/pull/42 {SHA}"
    assert option(up, "--ttl") == "48"
    assert {"--wait", "--json"} <= set(up)
    for name in ("--source", "--owner"):
        assert TAG_VALUE.match(option(up, name)), f"{name} must be a valid AWS tag value"

    (down,) = fargate_env_invocations(step_running("down"))
    assert down[:2] == ["down", "pr-42"] and "--wait" in down


def test_the_owner_is_made_a_valid_tag_value_from_a_bots_name():
    """dependabot[bot] is a GitHub actor too; ``[`` and ``]`` are not allowed in a tag value."""
    up = step_running("up")
    assert up["env"]["ACTOR"] == "${{ github.actor }}"
    assert 'owner="${ACTOR//[^A-Za-z0-9_.:\\/=+@-]/-}"' in up["run"]


def test_the_url_from_the_json_is_commented_on_the_pull_request_in_one_comment():
    up = step_running("up")
    assert up["id"] == "up"
    assert re.search(r"jq -r '\.url[^']*' \S+", up["run"]) and "$GITHUB_OUTPUT" in up["run"]
    (comment,) = [step for step in steps() if str(step.get("uses", "")).startswith("actions/github-script@")]
    assert "${{ steps.up.outputs.url }}" in comment["env"].values()
    script = comment["with"]["script"]
    marker = re.search(r"<!--[^>]*-->", script)
    assert marker, "a hidden HTML marker finds the comment again"
    assert "listComments" in script and "updateComment" in script and "createComment" in script
    # Values reach the script through env, never pasted into the JavaScript.
    assert not EXPRESSION.search(script)


def test_secrets_and_variables_are_listed_at_the_top():
    text = WORKFLOW.read_text(encoding="utf-8")
    lines = text.splitlines()
    first_key = next(number for number, line in enumerate(lines) if line.strip() and not line.startswith("#"))
    header = "\n".join(lines[:first_key])
    used = set(re.findall(r"\b(?:secrets|vars)\.([A-Z_]+)", text))
    assert {"AIRFLOW_URL", "AIRFLOW_TOKEN", "AIRFLOW_USERNAME", "AIRFLOW_PASSWORD"} <= used
    assert not [name for name in used if not re.search(rf"^#\s+{name}\b", header, re.MULTILINE)]


def test_actions_are_pinned_to_major_versions():
    uses = [str(step["uses"]) for step in steps() if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", ref) for ref in uses), uses
    assert "actions/checkout@v4" in uses
    (python,) = [step for step in steps() if str(step.get("uses")) == "actions/setup-python@v5"]
    assert python["with"]["python-version"] == "3.11"
    install = [step for step in steps() if "pip install airflow-provider-fargate" in step.get("run", "")]
    assert len(install) == 1
