"""Runs of one environment take turns; runs of different environments do not wait for each other
(issue 27: a burst of pull requests). The turn logic here; the DAG's gate through Airflow's
scheduler, with overlapping runs, in tests/test_fargate_env_cli.py."""

from __future__ import annotations

from fargate_provider.environments.turns import holder_of, next_turns, still_changing


def test_a_second_run_of_one_environment_waits_for_the_first():
    active = {"create-pr-1-a", "destroy-pr-1-b"}
    holder, turns = next_turns({}, "pr-1", "create-pr-1-a", active.__contains__)
    assert (holder, turns) == (None, {"pr-1": "create-pr-1-a"})
    assert next_turns(turns, "pr-1", "destroy-pr-1-b", active.__contains__) == ("create-pr-1-a", None)
    assert next_turns(turns, "pr-1", "create-pr-1-a", active.__contains__) == (None, None)  # its own already
    active.discard("create-pr-1-a")  # the first run ended (in any state)
    assert holder_of(turns, "pr-1", active.__contains__) is None
    assert next_turns(turns, "pr-1", "destroy-pr-1-b", active.__contains__) == (None, {"pr-1": "destroy-pr-1-b"})


def test_runs_of_different_environments_do_not_wait():
    active = {"create-pr-1-a", "create-pr-2-a"}
    _, turns = next_turns({}, "pr-1", "create-pr-1-a", active.__contains__)
    holder, turns = next_turns(turns, "pr-2", "create-pr-2-a", active.__contains__)
    assert holder is None and turns == {"pr-1": "create-pr-1-a", "pr-2": "create-pr-2-a"}


def test_turns_of_ended_runs_are_dropped_and_hold_nothing():
    turns = {"pr-1": "create-pr-1-old", "pr-2": "create-pr-2-old"}  # runs that have ended since
    active = {"create-pr-3-a"}
    assert holder_of(turns, "pr-1", active.__contains__) is None
    assert next_turns(turns, "pr-3", "create-pr-3-a", active.__contains__) == (None, {"pr-3": "create-pr-3-a"})


def test_a_create_gives_its_turn_up_once_its_report_succeeded():
    """What follows the report in a create acts only after a failed step: the environment is no
    longer being changed, and a sleep right after `fargate-env up --wait` need not wait for it."""
    assert still_changing(True, {})  # queued, nothing run yet
    assert still_changing(True, {"report": None})
    assert still_changing(True, {"report": "running"})
    assert still_changing(True, {"report": "skipped"})  # a destroy, sleep or wake: until the run ends
    assert not still_changing(True, {"report": "success"})
    assert not still_changing(False, {"report": None})  # ended, however
