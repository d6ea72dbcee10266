import pytest

from gridgov.demo.generate import DemoAreas, generate_areas


@pytest.fixture(scope="session")
def areas() -> DemoAreas:
    """The generated demo area tree, drawn once per test session (it takes a few seconds)."""
    return generate_areas()
