"""How the triggerer's shared loops (the poller, the GetLogEvents budget, the ECS events consumer,
the Live Tail sessions) pause when AWS refuses them: one pause for everyone they serve, starting
at FIRST_BACKOFF_SECONDS and doubling while the refusals go on, up to MAX_BACKOFF_SECONDS."""

from __future__ import annotations

FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS = 1.0, 60.0


def next_backoff(current: float) -> float:
    """The pause after ``current`` (0: none yet): the first, then twice the last, at most the longest."""
    return min(max(current * 2, FIRST_BACKOFF_SECONDS), MAX_BACKOFF_SECONDS)
