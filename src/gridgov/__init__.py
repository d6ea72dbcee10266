"""gridgov: city operations and grid-based grassroots governance (网格化基层治理)."""

__version__ = "0.1.0"
