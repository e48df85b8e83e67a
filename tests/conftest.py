"""The test suite's fixtures live in one plugin module: ``tests/fixtures.py``."""

pytest_plugins = ["tests.fixtures"]
