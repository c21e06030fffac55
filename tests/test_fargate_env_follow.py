"""`fargate-env up --wait` is done once the create's report succeeded: the teardown steps after it
act only when a create step failed, so the caller need not wait for them to start and skip.
Airflow's REST API is played by an httpx MockTransport: no stack needed."""

from __future__ import annotations

import httpx
import pytest

from fargate_provider.environments import cli

RUN = "create-pr-9-20261207T120000000000Z"


class RunningAirflow:
    """A run that goes on (its teardown tasks not started yet) with the given task states."""

    def __init__(self, states: dict[str, str], run_state: str = "running"):
        self.states, self.run_state = states, run_state
        self.polls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/taskInstances"):
            self.polls += 1
            return httpx.Response(
                200, json={"task_instances": [{"task_id": t, "state": s} for t, s in self.states.items()]}
            )
        return httpx.Response(200, json={"dag_run_id": RUN, "state": self.run_state})


def airflow(server: RunningAirflow) -> cli.Airflow:
    return cli.Airflow("http://airflow.test", "token", None, None, transport=httpx.MockTransport(server))


def test_a_create_is_done_when_its_report_succeeded_while_the_teardown_steps_are_still_to_come():
    server = RunningAirflow({"create_service": "success", "report": "success", "cleanup_service": None})
    assert cli.follow(airflow(server), RUN, timeout=60, interval=0, done_at=cli.DONE_AT["create"]) == "success"
    assert server.polls == 1


@pytest.mark.parametrize("report", [None, "running", "failed"])
def test_until_the_report_succeeded_the_run_is_followed_to_its_end(report):
    server = RunningAirflow({"create_service": "success", "report": report})
    with pytest.raises(cli.CliError, match="has not ended after 0 s"):
        cli.follow(airflow(server), RUN, timeout=0, interval=0, done_at=cli.DONE_AT["create"])
    server.run_state = "failed"
    assert cli.follow(airflow(server), RUN, timeout=60, interval=0, done_at=cli.DONE_AT["create"]) == "failed"


def test_other_actions_wait_for_the_run_to_end():
    server = RunningAirflow({"report": "success"})  # a task of that name decides nothing for a destroy
    with pytest.raises(cli.CliError, match="has not ended"):
        cli.follow(airflow(server), RUN, timeout=0, interval=0, done_at=cli.DONE_AT.get("destroy"))
