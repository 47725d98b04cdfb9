import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gridsim.network import GridSettings, build_feeder  # noqa: E402


@pytest.fixture(scope="session")
def feeder():
    return build_feeder("kerber_dorfnetz", GridSettings(230.0, 50.0, 1.0))


@pytest.fixture(scope="session")
def feeder_us():
    return build_feeder("ieee_european_lv", GridSettings(120.0, 60.0, 1.0))
