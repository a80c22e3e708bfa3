"""One cluster (tests/support/cluster.py) for every test of this folder: starting it costs seconds, so the tests
share it and each leaves it as it found it (both nodes ready, the database up, no network cut)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def healthy(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, put back together after the test: network mended, database and both nodes running."""
    try:
        yield cluster
    finally:
        for node in cluster.nodes.values():
            node.host.mend()
        if not _pg_running(cluster):
            cluster.pg.resume()
        for node in cluster.nodes.values():
            if node.proc is None or node.proc.poll() is not None:
                node.start(wait=False)
        for node in cluster.nodes.values():
            node.wait_ready()


def _pg_running(cluster: Cluster) -> bool:
    return Path(cluster.pg.data, "postmaster.pid").exists()
