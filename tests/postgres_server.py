"""A real, throw-away PostgreSQL + PostGIS server for tests and benchmarks.

Uses the Debian packages ``postgresql-15`` and ``postgresql-15-postgis-3``
(``make setup`` installs them). :class:`PostgresServer` runs ``initdb`` into a
temporary folder, starts ``postgres`` on a free loopback port (its unix socket
in the same folder, trust authentication: nothing outside this machine can
connect), and prepares a template database with the PostGIS extension, so
:meth:`PostgresServer.create_database` hands each test a fresh PostGIS database
in milliseconds. PostgreSQL refuses to run as root: under root the server runs
as the ``postgres`` system user (created by the Debian package).

Python::

    with PostgresServer() as server:            # initdb, start, wait, template with PostGIS
        url = server.create_database("t1")       # "postgresql://roadsight@127.0.0.1:PORT/t1"

Command line (``tests/`` is not a package; run it as a script)::

    python tests/postgres_server.py          # start, print a database URL, run until Ctrl-C
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

SUPERUSER = "roadsight"
TEMPLATE_DB = "roadsight_postgis_template"
_SERVER_USER_WHEN_ROOT = "postgres"


class PostgresError(RuntimeError):
    """The server could not be initialised or started; the message says why and quotes its log."""


def find_bindir() -> Path:
    """``$ROADSIGHT_PG_BINDIR``, else the newest ``/usr/lib/postgresql/<major>/bin`` with initdb."""
    override = os.environ.get("ROADSIGHT_PG_BINDIR")
    if override:
        return Path(override)
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise PostgresError(
            "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: run `make setup` "
            "(installs postgresql-15 and postgresql-15-postgis-3) or set ROADSIGHT_PG_BINDIR"
        )
    return candidates[-1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop_with_parent() -> None:
    """In the child, after the user switch: fast shutdown (SIGINT) when the parent dies.

    Set after ``setuid``: the kernel clears the parent-death signal on credential changes.
    """
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGINT)


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder, with PostGIS ready in a template database.

    Args:
        work_dir: folder for the cluster, socket and ``postgres.log``; a temporary
            one (removed by :meth:`close`) when None.
        start_timeout_s: how long :meth:`start` waits for the server to accept connections.
        durable: keep PostgreSQL's crash safety (fsync, full page writes); off by
            default, since a test cluster is thrown away and fsync on a busy
            machine costs seconds per CREATE DATABASE. Benchmarks pass True.
        settings: extra ``postgresql.conf`` settings (``-c name=value``).
    """

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        start_timeout_s: float = 60.0,
        durable: bool = False,
        settings: dict[str, str] | None = None,
    ) -> None:
        self._owns_dir = work_dir is None
        self.work_dir = Path(tempfile.mkdtemp(prefix="roadsight-pg-")) if work_dir is None else work_dir
        self.start_timeout_s = start_timeout_s
        self.durable = durable
        self.settings = settings or {}
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._run_as = _SERVER_USER_WHEN_ROOT if os.geteuid() == 0 else None

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        """Connection URL of ``database`` on this server (valid once started)."""
        if not self.port:
            raise PostgresError("server not started yet")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no server log yet)"
        return "\n".join(text.splitlines()[-lines:])

    def _popen_user(self) -> dict[str, object]:
        """``subprocess`` arguments that drop root to the server user (PostgreSQL refuses root)."""
        if self._run_as is None:
            return {}
        try:
            entry = pwd.getpwnam(self._run_as)
        except KeyError:
            raise PostgresError(
                f"running as root and there is no {self._run_as!r} user to run PostgreSQL as "
                "(the postgresql Debian package creates it)"
            ) from None
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _initdb(self, bindir: Path) -> None:
        if (self.data_dir / "PG_VERSION").is_file():
            return
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            os.chown(self.work_dir, entry.pw_uid, entry.pw_gid)
        cmd = [
            str(bindir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        ]  # fmt: skip
        result = subprocess.run(
            cmd, capture_output=True, text=True, check=False, cwd=self.work_dir, **self._popen_user()
        )  # type: ignore[call-overload]
        if result.returncode != 0:
            raise PostgresError(f"initdb failed (exit {result.returncode}):\n{result.stderr[-3000:]}")

    def start(self) -> str:
        """initdb on first start, run the server, wait until it accepts connections and
        prepare the PostGIS template database. Returns the URL of the ``postgres`` database."""
        if self.is_running():
            return self.url()
        bindir = find_bindir()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._initdb(bindir)
        if not self.port:
            self.port = _free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.work_dir),
            "max_connections": "60",
            "shared_buffers": "64MB",
            "logging_collector": "off",
            **({} if self.durable else {"fsync": "off", "full_page_writes": "off"}),
            **self.settings,
        }
        cmd = [str(bindir / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            cmd += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # type: ignore[call-overload]
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.work_dir,
                preexec_fn=_stop_with_parent,
                **self._popen_user(),
            )
        try:
            self._wait_ready()
            self._prepare_template()
        except PostgresError:
            self.stop()
            raise
        return self.url()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                code = self._process.returncode if self._process else None
                raise PostgresError(
                    f"postgres exited with code {code} during start-up; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError as err:
                last_error = str(err).strip()
            time.sleep(0.2)
        raise PostgresError(
            f"postgres did not accept connections on 127.0.0.1:{self.port} within "
            f"{self.start_timeout_s:.0f} s ({last_error}); log {self.log_path}:\n{self.log_tail()}"
        )

    def _prepare_template(self) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE_DB,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
        try:
            with psycopg.connect(self.url(TEMPLATE_DB), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except psycopg.Error as err:
            raise PostgresError(
                f"CREATE EXTENSION postgis failed: {err} (is postgresql-15-postgis-3 installed?)"
            ) from err

    def create_database(self, name: str) -> str:
        """A fresh database ``name`` with PostGIS (a copy of the template); returns its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(TEMPLATE_DB)
                )
            )
        return self.url(name)

    def stop(self, timeout_s: float = 30.0, *, immediate: bool = False) -> None:
        """Fast shutdown (SIGINT: disconnect clients, checkpoint), SIGKILL if it hangs.

        ``immediate`` (SIGQUIT) skips the checkpoint: for a cluster about to be deleted.
        """
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGQUIT if immediate else signal.SIGINT)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def close(self) -> None:
        """Stop and remove the work folder if this object created it."""
        self.stop(immediate=self._owns_dir)
        if self._owns_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def main() -> int:
    """Start a server, print a fresh PostGIS database URL, and run until interrupted."""
    with PostgresServer() as server:
        print(server.create_database("roadsight"), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
