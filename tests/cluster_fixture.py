"""A real three-master Redis Cluster from Debian's `redis-server`, on free ports, for tests.

`with RedisClusterFixture() as nodes:` yields the seed list for `REDIS_CLUSTER_NODES`
("127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3"); the nodes run without persistence in a temporary
directory and are stopped (SIGTERM, then SIGKILL) on exit.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from gridtwin.mesh import LocalRedis, free_port

CLUSTER_BUS_OFFSET = 10_000  # a cluster node also listens on port + 10000 (the cluster bus)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster-bus port (+10000) is valid and free too."""
    while True:
        port = free_port()
        if port + CLUSTER_BUS_OFFSET <= 65_535 and _bindable(port + CLUSTER_BUS_OFFSET):
            return port


class RedisClusterFixture:
    def __init__(self, masters: int = 3) -> None:
        self.ports = [cluster_port() for _ in range(masters)]
        self.dir = Path(tempfile.mkdtemp(prefix="gridtwin-cluster-"))
        self.nodes: list[LocalRedis] = []

    @property
    def seeds(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def __enter__(self) -> str:
        try:
            for port in self.ports:
                node_dir = self.dir / str(port)
                node_dir.mkdir()
                args = ["--cluster-enabled", "yes", "--cluster-config-file", str(node_dir / "nodes.conf")]
                self.nodes.append(LocalRedis(port, args=[*args, "--dir", str(node_dir)]).start())
            cli = shutil.which("redis-cli")
            if cli is None:
                raise FileNotFoundError("redis-cli not found on PATH")
            subprocess.run(
                [
                    cli,
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{p}" for p in self.ports),
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            self._wait_ok()
        except BaseException:
            self.__exit__()
            raise
        return self.seeds

    def _wait_ok(self, limit_s: float = 30.0) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            states = [redis.Redis(port=p).cluster("info") for p in self.ports]
            if all(s.get("cluster_state") == "ok" for s in states):
                return
            time.sleep(0.2)
        raise TimeoutError("the cluster did not reach cluster_state:ok")

    def __exit__(self, *exc: object) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
