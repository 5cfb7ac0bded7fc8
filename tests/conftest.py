"""The harness's pytest plugin (options, fixtures, the tree check, the block table): tests/harness/plugin.py.
pytester runs that plugin in sessions of their own (tests/harness_tests/test_plugin.py)."""

pytest_plugins = ["tests.harness.plugin", "pytester"]
