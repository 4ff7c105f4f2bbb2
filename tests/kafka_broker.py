"""A real single-node Apache Kafka broker (KRaft) for tests and the demo.

The broker's jars come from Maven Central through ``scripts/kafka/pom.xml``
(``mvn dependency:copy-dependencies``) into ``$ROADSIGHT_CACHE/kafka/<version>/libs``
(default cache: ``<repo>/.cache``), once. Each :class:`KafkaBroker` runs
``java kafka.Kafka`` on free loopback ports with its data in its own folder.

Python::

    with KafkaBroker() as broker:      # fetches jars if needed, formats, starts, waits
        bootstrap = broker.bootstrap   # "127.0.0.1:PORT"
        broker.restart()               # same ports, same data

Command line (``tests/`` is not a package; run it as a script)::

    python tests/kafka_broker.py fetch      # download jars only, print the libs folder
    python tests/kafka_broker.py start      # start in the background, print the bootstrap address
    python tests/kafka_broker.py stop       # stop the one started by `start`
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

KAFKA_VERSION = "4.4.0"
REPO_ROOT = Path(__file__).resolve().parent.parent
POM_PATH = REPO_ROOT / "scripts" / "kafka" / "pom.xml"
_READY_STAMP = ".complete"

_LOG4J2_PROPERTIES = """\
# Written by tests/kafka_broker.py: everything INFO and up to stdout (redirected to broker.log).
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka-config.name = org.apache.kafka.common.config.AbstractConfig
logger.kafka-config.level = warn
"""


class BrokerError(RuntimeError):
    """The broker could not be fetched, started or stopped; the message says why and where the log is."""


def cache_root() -> Path:
    """``$ROADSIGHT_CACHE`` if set, else ``<repo>/.cache`` (git-ignored)."""
    override = os.environ.get("ROADSIGHT_CACHE")
    return Path(override).expanduser().resolve() if override else REPO_ROOT / ".cache"


def libs_dir(version: str = KAFKA_VERSION) -> Path:
    """Where the broker's jars for ``version`` live once fetched."""
    return cache_root() / "kafka" / version / "libs"


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BrokerError(f"{name!r} not found on PATH; run `make setup` (installs a JRE and Maven)")
    return path


def fetch(version: str = KAFKA_VERSION) -> Path:
    """Download the Kafka broker and its runtime dependencies, unless already there.

    Returns the libs folder. Idempotent: a stamp file marks a complete copy, so
    an interrupted download is redone rather than trusted.
    """
    target = libs_dir(version)
    if (target / _READY_STAMP).is_file():
        return target
    mvn = _require_tool("mvn")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=target.parent))
    cmd = [
        mvn, "-B", "-q", "-f", str(POM_PATH), "dependency:copy-dependencies",
        "-DincludeScope=runtime", f"-Dkafka.version={version}", f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(staging.glob(f"kafka_2.13-{version}.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        tail = (result.stdout + result.stderr)[-4000:]
        raise BrokerError(f"fetching Kafka {version} with Maven failed (exit {result.returncode}):\n{tail}")
    (staging / _READY_STAMP).write_text(version + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _stop_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it when the parent dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _random_cluster_id() -> str:
    """Kafka's cluster id format: a UUID as URL-safe base64 without padding (22 chars)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")


class KafkaBroker:
    """One combined broker+controller Kafka node on 127.0.0.1.

    Args:
        work_dir: folder for config, data and ``broker.log``; a temporary one
            (removed by :meth:`close`) when None.
        version: Kafka version to fetch and run.
        heap_mb: JVM maximum heap; 512 MiB is plenty for tests.
        start_timeout_s: how long :meth:`start` waits for metadata answers.
        detach: let the broker outlive this Python process (the ``start`` CLI);
            otherwise the kernel stops it when this process dies, so a killed
            test run leaves no stray JVM holding ports and memory.
    """

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        version: str = KAFKA_VERSION,
        heap_mb: int = 512,
        start_timeout_s: float = 120.0,
        detach: bool = False,
    ) -> None:
        self._owns_dir = work_dir is None
        self.work_dir = Path(tempfile.mkdtemp(prefix="roadsight-kafka-")) if work_dir is None else work_dir
        self.version = version
        self.heap_mb = heap_mb
        self.start_timeout_s = start_timeout_s
        self.detach = detach
        self.port = 0
        self.controller_port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` of the PLAINTEXT listener (valid once started; kept across restarts)."""
        if not self.port:
            raise BrokerError("broker not started yet")
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "broker.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        """Last ``lines`` lines of the broker log, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no broker log yet)"
        return "\n".join(text.splitlines()[-lines:])

    def _write_config(self) -> Path:
        data_dir = self.work_dir / "data"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            # A static single-voter quorum: no --standalone/dynamic-quorum bootstrap needed.
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "log.dirs": str(data_dir),
            "num.partitions": "3",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Tests join consumer groups often; the default 3 s delay would dominate.
            "group.initial.rebalance.delay.ms": "0",
            # Small segments and fewer threads: this runs on a 2-core machine.
            "num.network.threads": "2",
            "num.io.threads": "2",
            "log.segment.bytes": str(16 * 1024 * 1024),
        }
        config = self.work_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()), encoding="utf-8")
        (self.work_dir / "log4j2.properties").write_text(_LOG4J2_PROPERTIES, encoding="utf-8")
        return config

    def _java_cmd(self, main_class: str, *args: str) -> list[str]:
        java = _require_tool("java")
        return [
            java,
            f"-Xmx{self.heap_mb}m",
            "-Xms64m",
            "-XX:+UseSerialGC",  # fewest GC threads; the machine has 2 cores
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}",
            "-cp",
            str(libs_dir(self.version) / "*"),
            main_class,
            *args,
        ]

    def _format_storage(self, config: Path) -> None:
        if (self.work_dir / "data" / "meta.properties").is_file():
            return  # already formatted: a restart keeps the data
        cmd = self._java_cmd(
            "kafka.tools.StorageTool", "format", "-t", _random_cluster_id(), "-c", str(config)
        )
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerError(
                f"kafka-storage format failed (exit {result.returncode}):\n{result.stdout[-3000:]}"
            )

    def start(self) -> str:
        """Fetch if needed, format storage on first start, run the broker and wait
        until it answers metadata requests. Returns the bootstrap address."""
        if self.is_running():
            return self.bootstrap
        fetch(self.version)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:  # first start picks ports; a restart keeps them so clients reconnect
            self.port, self.controller_port = _free_port(), _free_port()
        config = self._write_config()
        self._format_storage(config)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._java_cmd("kafka.Kafka", str(config)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=self.detach,
                preexec_fn=None if self.detach else _stop_with_parent,
            )
        try:
            self._wait_ready()
        except BrokerError:
            self.stop()
            raise
        return self.bootstrap

    def _wait_ready(self) -> None:
        from kafka import KafkaAdminClient  # lazy: `fetch` works without kafka-python
        from kafka.errors import KafkaError

        deadline = time.monotonic() + self.start_timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                code = self._process.returncode if self._process else None
                raise BrokerError(
                    f"Kafka exited with code {code} during start-up; log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    pass
                admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap, request_timeout_ms=5000, client_id="roadsight-probe"
                )
                try:
                    admin.list_topics()
                    if admin.describe_cluster().get("brokers"):
                        return
                finally:
                    admin.close()
            except (OSError, KafkaError) as err:
                last_error = f"{type(err).__name__}: {err}"
            time.sleep(0.5)
        raise BrokerError(
            f"Kafka did not answer on {self.bootstrap} within {self.start_timeout_s:.0f} s ({last_error}); "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (controlled shutdown), wait, then SIGKILL if it hangs. Data is kept."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> str:
        """Stop and start again on the same ports with the same data."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and remove the work folder if this object created it."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _cli_fetch() -> int:
    print(fetch())
    return 0


def _state_file() -> Path:
    return cache_root() / "kafka" / "run" / "state.json"


def _cli_start() -> int:
    state = _state_file()
    if state.is_file():
        info = json.loads(state.read_text(encoding="utf-8"))
        if _pid_alive(int(info["pid"])):
            print(info["bootstrap"])
            return 0
    broker = KafkaBroker(state.parent / "broker", detach=True)
    shutil.rmtree(broker.work_dir, ignore_errors=True)  # a fresh broker each `start`
    bootstrap = broker.start()
    state.write_text(json.dumps({"pid": broker.pid, "bootstrap": bootstrap, "dir": str(broker.work_dir)}))
    print(bootstrap)
    return 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _cli_stop() -> int:
    state = _state_file()
    if not state.is_file():
        print("no broker started by `kafka_broker.py start`")
        return 0
    pid = int(json.loads(state.read_text(encoding="utf-8"))["pid"])
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    state.unlink()
    print(f"stopped broker pid {pid}")
    return 0


def main(argv: Sequence[str]) -> int:
    """``kafka_broker.py fetch|start|stop``; exit 2 with one line on failure."""
    commands = {"fetch": _cli_fetch, "start": _cli_start, "stop": _cli_stop}
    if len(argv) != 1 or argv[0] not in commands:
        print("usage: python tests/kafka_broker.py fetch|start|stop", file=sys.stderr)
        return 2
    try:
        return int(commands[argv[0]]())
    except BrokerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
