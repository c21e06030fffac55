"""moto keeps its state in module-global backends: a second LocalEcs in the same process would
share the first one's state, and reset() on either would wipe both. Starting one is refused."""

from __future__ import annotations

import pytest

from fargate_local.server import EmulatorAlreadyRunning, LocalEcs
from tests.emulator.helpers import client


def test_a_second_emulator_in_one_process_is_refused_and_the_first_keeps_its_state(emulator):
    ecs = client(emulator)
    ecs.create_cluster(clusterName="kept")
    second = LocalEcs(port=0)
    with pytest.raises(EmulatorAlreadyRunning, match="already running in this process at http://127.0.0.1:"):
        second.start()
    assert [c["clusterName"] for c in ecs.describe_clusters(clusters=["kept"])["clusters"]] == ["kept"]
    ecs.delete_cluster(cluster="kept")
