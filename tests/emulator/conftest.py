import pytest

from tests.emulator.helpers import cleanup, client


@pytest.fixture
def ecs(emulator):
    """An ECS client on a clean emulator with cluster "c"; everything in it is removed afterwards."""
    ecs = client(emulator)
    ecs.create_cluster(clusterName="c")
    yield ecs
    cleanup(ecs)
