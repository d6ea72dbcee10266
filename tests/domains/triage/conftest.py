"""Fixtures of the triage tests: the case tests' synthetic world, frozen clock and enrolled API users."""

from __future__ import annotations

from tests.domains.cases.conftest import world  # noqa: F401 - fixtures shared with the case tests
from tests.domains.cases.test_api import api, now  # noqa: F401
