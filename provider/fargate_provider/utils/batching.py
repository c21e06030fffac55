"""ECS's per-call limits, and slicing lists to them."""

from __future__ import annotations

from collections.abc import Iterator

DELETE_TASK_DEFINITIONS_BATCH = 10
DESCRIBE_CLUSTERS_BATCH = 100
DESCRIBE_SERVICES_BATCH = 10
DESCRIBE_TASKS_BATCH = 100


def batched(items: list[str], size: int) -> Iterator[list[str]]:
    """``items`` in slices of at most ``size``: the API's limit per Describe/Delete call."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
