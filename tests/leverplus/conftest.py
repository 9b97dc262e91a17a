from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="leverplus needs the train extra (torch)")

from leverplus.rl_data import generate_rl_data  # noqa: E402
from leverplus.world import World, WorldConfig  # noqa: E402


@pytest.fixture(scope="session")
def small_world():
    return World.build(WorldConfig(num_items=200, dim=32, seed=3))


@pytest.fixture(scope="session")
def small_data(small_world):
    return generate_rl_data(small_world, list(range(60)), pool_size=16, seed=3, log=lambda message: None)
