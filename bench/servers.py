"""Processes the benchmark starts (gunicorn masters, nginx), plain HTTP requests to them, and
the resident memory of their workers."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

STOP_TIMEOUT = 30.0  # gunicorn's graceful_timeout is 20 s
STARTED_S = 1.0  # a process that serves nothing counts as started once it ran this long


class ServerError(RuntimeError):
    """A server did not start, or answered something unexpected."""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    seconds: float  # from connecting to the last byte of the body

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def get(
    port: int, path: str, headers: Mapping[str, str] | None = None, timeout: float = 60.0
) -> Answer:
    """One GET over a fresh connection to 127.0.0.1:`port`; the body is not decoded."""
    return request(port, "GET", path, headers, timeout=timeout)


def request(
    port: int,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 60.0,
) -> Answer:
    """One request over a fresh connection to 127.0.0.1:`port`; the body is not decoded."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        body = response.read()
        seconds = time.perf_counter() - start
        found = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, found, body, seconds)
    finally:
        conn.close()


@dataclass
class Running:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Processes:
    """Every server started through it is stopped when the `with` block ends, on errors and
    interrupts too: SIGTERM to its process group, then SIGKILL after STOP_TIMEOUT."""

    running: list[Running] = field(default_factory=list)

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for server in reversed(list(self.running)):
            self.stop(server)

    def start(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        port: int,
        log: Path,
        ready_path: str | None,
        cwd: Path | None = None,
        wait: float = 120.0,
    ) -> Running:
        """Start `command` (its own process group, output to `log`) and wait until GET
        `ready_path` answers 200; with no `ready_path` (a process that serves nothing), until
        it has run for STARTED_S without exiting."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(command),
                env=dict(env),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = Running(name, process, port, log)
        self.running.append(server)
        started = time.monotonic()
        deadline = started + wait
        while True:
            if process.poll() is not None:
                self.stop(server)
                raise ServerError(
                    f"{name} exited with {process.returncode} before answering:\n{server.tail()}"
                )
            if ready_path is None:
                if time.monotonic() - started >= STARTED_S:
                    return server
                time.sleep(0.1)
                continue
            try:
                if get(port, ready_path, timeout=5).status == 200:
                    return server
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop(server)
                raise ServerError(f"{name} did not answer {ready_path} in {wait:.0f} s")
            time.sleep(0.1)

    def stop(self, server: Running) -> int | None:
        """Stop `server` and everything in its process group; its exit status."""
        if server in self.running:
            self.running.remove(server)
        process = server.process
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        # Whatever the master left behind in its group (it was the group's leader).
        _signal_group(process.pid, signal.SIGKILL)
        return process.returncode


def _signal_group(pgid: int, number: signal.Signals) -> None:
    try:
        os.killpg(pgid, number)
    except (ProcessLookupError, PermissionError):
        pass


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (gunicorn's workers, for its master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def resident_mb(pid: int, field: str = "VmRSS") -> float | None:
    """VmRSS of `pid` in MB (10^6 bytes), or another of its memory figures (VmHWM: the peak
    resident memory); None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None
    return None


def workers_resident_mb(master: int) -> dict[int, float]:
    """VmRSS in MB of every worker (child) of the gunicorn master `master`."""
    found = {}
    for pid in children(master):
        rss = resident_mb(pid)
        if rss is not None:
            found[pid] = rss
    return found


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> dict[int, float]:
    """User and system CPU time used so far by each of these processes (the living ones)."""
    found = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[pid] = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)
    return found


def busy_seconds() -> float:
    """CPU time the machine's processes have used, all CPUs: user, nice and system time
    (interrupts, which the loopback traffic costs too, and a hypervisor's steal left out)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:4]
    return sum(int(value) for value in fields) / _TICK


def tree(pid: int) -> list[int]:
    """A gunicorn or nginx master and its workers (not nginx's cache manager and loader)."""
    found = [pid]
    for child in children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if not command.startswith(b"nginx: cache"):
            found.append(child)
    return found
