"""A throwaway PostgreSQL cluster for the tests: Debian's ``postgresql`` binaries, ``initdb`` on a
temp dir, a free port on loopback, fsync off; stopped and removed at the end of the session.

``make test`` installs the package where it is missing (``make postgres``); where it cannot, the
PostgreSQL tests are skipped with that reason. As root, the cluster runs as the ``postgres`` user
(``initdb`` refuses root), which the package creates.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from glob import glob
from pathlib import Path

USER = "ragsvc"


def bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: Debian keeps them under /usr/lib/postgresql/N/bin."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, root: Path, binaries: Path) -> None:
        self.root, self.binaries = root, binaries
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.binaries / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if self.as_postgres:
            shutil.chown(self.root, "postgres")
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        with (data / "postgresql.conf").open("a") as conf:  # read again on a restart
            conf.write(
                f"port = {self.port}\nunix_socket_directories = '{self.root}'\n"
                "listen_addresses = '127.0.0.1'\nfsync = off\n"
            )
        self.start_again()

    def start_again(self) -> None:
        """Start the stopped server (the cluster as it was)."""
        data = self.root / "data"
        self._run("pg_ctl", "-D", str(data), "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database on the cluster; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@contextmanager
def running_cluster() -> Iterator[Cluster | str]:
    """A started cluster in a temp dir of its own (the ``postgres`` user must reach it: not under
    pytest's private temp dir), or why there is none (to skip with)."""
    binaries = bin_dir()
    if binaries is None:
        yield "PostgreSQL is not installed (make postgres: apt-get install postgresql)"
        return
    root = Path(tempfile.mkdtemp(prefix="ragsvc-postgres-"))
    try:
        yield from _started(Cluster(root, binaries))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _started(cluster: Cluster) -> Iterator[Cluster | str]:
    try:
        cluster.start()
    except (subprocess.CalledProcessError, OSError, LookupError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        yield f"the PostgreSQL test cluster did not start: {exc} {detail.decode(errors='replace')}"
        return
    try:
        yield cluster
    finally:
        cluster.stop()
