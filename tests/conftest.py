"""The harness's pytest plugin (options, fixtures, the tree check, the block table): tests/harness/plugin.py.
pytester runs that plugin in sessions of their own (tests/harness_tests/test_plugin.py).

Here: the built site served over HTTP, shared by the browser tests and the reader test."""

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest_plugins = ["tests.harness.plugin", "pytester"]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def served_site(built_site):
    """The built site on 127.0.0.1: its base URL, ending in a slash."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(built_site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
