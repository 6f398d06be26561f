"""Suite-wide settings: hypothesis profiles and the opt-in soak marker."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile(
    "soak", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=2000
)
settings.load_profile("soak" if os.environ.get("SAMIZDAT_SOAK") else "default")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak tests run only when asked for (`make soak`); say so rather than skip silently."""
    if os.environ.get("SAMIZDAT_SOAK"):
        return
    skip = pytest.mark.skip(reason="opt-in soak run: `make soak` (SAMIZDAT_SOAK=1)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
