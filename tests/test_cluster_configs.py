"""Cluster configs that can run on one machine are run, not only parsed.

A schema accepts a config that refuses its own clients; these tests start the server a
"From laptop to cluster" section configures, on 127.0.0.1, with the production settings and
local stand-ins only for what a laptop cannot have, and make the request a cluster client makes.
The MLflow server (module 5.3) and KServe's model-server arguments (module 5.4) are checked by
executed blocks on their pages, where the reader sees them; CONTRIBUTING lists what runs where.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from tests.harness import SNIPPETS
from tests.harness.environment import TELEMETRY_OFF, VENV_BIN

FEAST_SERVER_YAML = SNIPPETS / "module-5.2" / "feature_store.production.yaml"
FEAST_CLIENT_YAML = SNIPPETS / "module-5.2" / "feature_store.client.yaml"
REDIS_PASSWORD = "stand-in-password"  # the Secret's value on the cluster
STARTUP_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail(f"nothing listened on 127.0.0.1:{port} after {timeout_s} s:\n{log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def redis_server(tmp_path):
    """Debian's redis-server on 127.0.0.1, with a password as on the cluster; yields its port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: apt-get install redis-server (.ci/run installs it)")
    port = _free_port()
    log = tmp_path / "redis.log"
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--requirepass", REDIS_PASSWORD,
               "--save", "", "--appendonly", "no", "--dir", str(tmp_path), "--logfile", str(log)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, log)
        yield port
    finally:
        _stop(process)


def _server_config(repo: Path, redis_port: int) -> dict:
    """The production feature_store.yaml, with stand-ins only where a store cannot run here."""
    config = yaml.safe_load(FEAST_SERVER_YAML.read_text())
    # PostgreSQL -> a SQLite file: the same SQL registry code, another SQLAlchemy URL.
    config["registry"]["path"] = f"sqlite:///{repo / 'registry.db'}"
    # The Redis host and TLS change; the password stays an environment variable, as on the cluster.
    host, *options = config["online_store"]["connection_string"].split(",")
    assert host == "redis-master.feast.svc:6379" and "ssl=true" in options, "production file changed: update the stand-ins"
    kept = [option for option in options if option != "ssl=true"]  # the local server speaks no TLS
    config["online_store"]["connection_string"] = ",".join([f"127.0.0.1:{redis_port}", *kept])
    # Trino (offline store and materialization engine) cannot run here: kept as written, unused by serving.
    return config


def _definitions():
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64

    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    source = FileSource(name="customer_stats_source", path="customer_stats.parquet", timestamp_field="event_timestamp")
    view = FeatureView(
        name="customer_stats",
        entities=[customer],
        ttl=timedelta(days=1),
        schema=[Field(name="tx_count_24h", dtype=Int64), Field(name="avg_amount_7d", dtype=Float64)],
        source=source,
    )
    return customer, source, view


def test_feast_serve_with_the_production_config_answers_a_client(tmp_path, redis_server, monkeypatch):
    import pandas as pd
    import redis
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    env = {**TELEMETRY_OFF, "REDIS_PASSWORD": REDIS_PASSWORD, "FEAST_REGISTRY_PASSWORD": "unused",
           "TRINO_PASSWORD": "unused"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    server_repo = tmp_path / "server"
    server_repo.mkdir()
    # Written with the ${...} placeholders in place: Feast substitutes them when it reads the file.
    (server_repo / "feature_store.yaml").write_text(yaml.safe_dump(_server_config(server_repo, redis_server)))

    # What CI's `feast apply` and the materialization job do, against the server's own stores.
    server_store = FeatureStore(repo_path=str(server_repo))
    customer, source, view = _definitions()
    server_store.apply([customer, source, view])
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rows = pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [now, now],
                         "tx_count_24h": [3, 1], "avg_amount_7d": [45.0, 12.5]})
    server_store.write_to_online_store("customer_stats", rows)
    stored = redis.Redis(host="127.0.0.1", port=redis_server, password=REDIS_PASSWORD)
    keys = stored.keys()
    assert keys and all(0 < stored.ttl(key) <= 1_209_600 for key in keys), "key_ttl_seconds not applied"

    port = _free_port()
    log = tmp_path / "feast-serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [str(VENV_BIN / "feast"), "--chdir", str(server_repo), "serve", "--host", "127.0.0.1",
             "--port", str(port), "--no-access-log"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True,
        )
    try:
        _wait_for_port(port, server, log)
        # The client's file as written, except two addresses: the feature server's Service becomes
        # the local port, and the registry server (its gRPC server binds [::], not 127.0.0.1) becomes
        # the server's own SQL registry file.
        client = yaml.safe_load(FEAST_CLIENT_YAML.read_text())
        assert client["online_store"] == {"type": "remote", "path": "http://feast-feature-server.feast.svc:6566"}
        client["online_store"]["path"] = f"http://127.0.0.1:{port}"
        client["registry"] = {"registry_type": "sql", "path": f"sqlite:///{server_repo / 'registry.db'}"}
        client_store = FeatureStore(config=RepoConfig(repo_path=tmp_path, **client))
        answer = client_store.get_online_features(
            features=["customer_stats:tx_count_24h", "customer_stats:avg_amount_7d"],
            entity_rows=[{"customer_id": 1}, {"customer_id": 3}],
        ).to_dict()
    finally:
        _stop(server)
    assert answer == {"customer_id": [1, 3], "tx_count_24h": [3, None], "avg_amount_7d": [45.0, None]}, answer
