"""Fixtures of the evaluation tests: the case tests' synthetic world."""

from __future__ import annotations

from tests.domains.cases.conftest import world  # noqa: F401 - the synthetic district and catalogue
from tests.domains.cases.test_api import api, now  # noqa: F401 - enrolled API users, frozen clock
