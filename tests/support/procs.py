"""Real processes for tests and benchmarks: free ports, our own servers, drip's worker processes.

Everything started here is ours: our own redis-server on a free port, the provider servers,
Celery workers. The machine's own PostgreSQL and Redis are never stopped or restarted.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout_s} s")


class ManagedProcess:
    """A child process in its own process group, logging to a file we can read back."""

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        name: str = "proc",
        cwd: Path = ROOT,
    ) -> None:
        self.name = name
        self.log_path = Path(tempfile.mkstemp(prefix=f"drip-{name}-", suffix=".log")[1])
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for_line(self, pattern: str, timeout_s: float = 30.0) -> str:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if regex.search(line):
                    return line
            if not self.alive:
                break
            time.sleep(0.05)
        raise TimeoutError(
            f"{self.name}: no line matching {pattern!r}; log tail:\n{self.log_tail()}"
        )

    def cpu_seconds(self) -> float:
        """User + system CPU of every live process in this process's group (children included)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.process.pid:  # field 5 (pgrp), counted after the ")"
                total += int(fields[11]) + int(fields[12])
        return total / ticks

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, like a crash or an OOM kill."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.alive:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class RedisServer:
    """Our own redis-server on a free port (never the machine's)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="drip-redis-")
        self.start()

    def start(self) -> None:
        self.proc = ManagedProcess(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            name="redis",
        )
        wait_for_port(self.port)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def restart(self) -> None:
        self.proc.kill()
        self.start()

    def stop(self) -> None:
        self.proc.stop()


def start_twilio_server(
    record: Path,
    *,
    delay_ms: float = 0,
    error_rate: float = 0,
    stall_rate: float = 0,
    taken_stall_rate: float = 0,
    stall_s: float = 0,
    auth_token: str = "bench-token",
) -> tuple[ManagedProcess, int]:
    port = free_port()
    proc = ManagedProcess(
        [
            sys.executable,
            "-m",
            "tests.support.twilio_server",
            "--port",
            str(port),
            "--delay-ms",
            str(delay_ms),
            "--error-rate",
            str(error_rate),
            "--stall-rate",
            str(stall_rate),
            "--taken-stall-rate",
            str(taken_stall_rate),
            "--stall-s",
            str(stall_s),
            "--auth-token",
            auth_token,
            "--record",
            str(record),
        ],
        name="twilio",
    )
    wait_for_port(port)
    return proc, port


def start_smtp_server(record: Path, *, fail_451_rate: float = 0) -> tuple[ManagedProcess, int]:
    port = free_port()
    proc = ManagedProcess(
        [
            sys.executable,
            "-m",
            "tests.support.smtp_server",
            "--port",
            str(port),
            "--fail-451-rate",
            str(fail_451_rate),
            "--record",
            str(record),
        ],
        name="smtp",
    )
    wait_for_port(port)
    return proc, port


def start_worker(
    env: dict[str, str], *, name: str, concurrency: int = 1, include: str = ""
) -> ManagedProcess:
    """A real Celery worker process (prefork), ready when it says so."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "drip.celery",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
    ]
    if include:
        argv += ["--include", include]
    proc = ManagedProcess(argv, env=env, name=name)
    proc.wait_for_line(r"ready\.", timeout_s=60)
    return proc
