"""The harness's pytest plugin (options, fixtures, the tree check, the block table): tests/harness/plugin.py."""

pytest_plugins = ["tests.harness.plugin"]
