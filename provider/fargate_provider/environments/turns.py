"""One run at a time per environment; runs of different environments side by side.

``fargate_ephemeral_environment`` runs many at once (a burst of pull requests), but two runs of
one environment must never overlap: two creates could both find no rule for the host and make two,
a destroy could pull the service from under a create. Each run's first task takes the
environment's *turn*: it records its run id under the environment's name in the Variable
``fargate_environment_turns``, unless a run that is still queued or running holds it; then it
waits (a sensor in reschedule mode: no worker slot held) and asks again.

The read-check-write is safe because only that task writes the Variable and Airflow starts one
instance of it at a time across all runs (``max_active_tis_per_dag=1``; the scheduler does not
count a sensor waiting for its next poke, so a waiting run does not block runs of other
environments). A run that ends, however it ends, gives the turn up: its state is no longer
active, so no release step is needed and a killed run cannot hold a name forever. A create gives
it up sooner, once its ``report`` task succeeded: what follows in it acts only after a failed
step, so it changes the environment no more (``fargate-env up --wait`` returns then, and a
``sleep`` right after need not wait for those teardown checks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fargate_provider import settings
from fargate_provider.environments.naming import READY_TASK_ID

#: Dag run states in which a run holds its environment's turn.
ACTIVE_RUN_STATES = ("queued", "running")


def still_changing(run_active: bool, task_states: Mapping[str, str | None]) -> bool:
    """Whether a run holds its environment's turn: queued or running (``run_active``) and, for a
    create, its ``report`` task (``task_states``: the run's task states) not yet succeeded."""
    return run_active and task_states.get(READY_TASK_ID) != "success"


def holder_of(turns: dict[str, str], environment: str, is_active: Callable[[str], bool]) -> str | None:
    """The run that holds ``environment``'s turn now, if any."""
    holder = turns.get(environment)
    return holder if holder and is_active(holder) else None


def next_turns(
    turns: dict[str, str], environment: str, run_id: str, is_active: Callable[[str], bool]
) -> tuple[str | None, dict[str, str] | None]:
    """``run_id`` asks for ``environment``'s turn, given who holds which (``turns``).

    Returns ``(holder, None)`` when another run that is still active holds it (this run waits);
    else ``(None, turns to store)``, this run holding it and the turns of runs that have ended
    dropped (``None`` instead when nothing changes: this run held it already)."""
    holder = holder_of(turns, environment, is_active)
    if holder == run_id:
        return None, None
    if holder:
        return holder, None
    held = {name: rid for name, rid in turns.items() if name != environment and is_active(rid)}
    held[environment] = run_id
    return None, held


def take_turn(environment: str, run_id: str, is_active: Callable[[str], bool]) -> str | None:
    """In a task of the environment DAG: :func:`next_turns` on the Variable, stored back when this
    run takes the turn. ``None`` when this run holds it, else the run that does."""
    from airflow.sdk import Variable

    holder, changed = next_turns(settings.ENVIRONMENT_TURNS.get(), environment, run_id, is_active)
    if changed is not None:
        Variable.set(settings.ENVIRONMENT_TURNS.name, changed, serialize_json=True)
    return holder
