"""Test-suite wide settings.

Hypothesis runs derandomized by default, so CI and every developer see the same examples; set
``HYPOTHESIS_PROFILE=explore`` to search with fresh random examples (and more of them).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("deterministic", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
