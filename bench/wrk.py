"""Running wrk (https://github.com/wg/wrk, Debian package `wrk`) and reading its --latency
report: requests/s, latency percentiles and errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

INSTALL_HINT = "wrk is not installed; install it with: apt-get install wrk"

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_TIME = r"([0-9.]+)(us|ms|s|m|h)"
_PERCENTILE = re.compile(rf"^\s*(50|75|90|99)(?:\.0+)?%\s+{_TIME}\s*$", re.MULTILINE)
_LATENCY = re.compile(rf"^\s*Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}", re.MULTILINE)
_REQUESTS = re.compile(
    r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h), ([0-9.]+)([KMGT]?B) read", re.MULTILINE
)
_RPS = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)
_SOCKET = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


class WrkError(RuntimeError):
    """wrk failed, or printed something this module cannot read."""


def milliseconds(value: str, unit: str) -> float:
    """A wrk time such as ('1.23', 'ms') in milliseconds."""
    return float(value) * _UNITS[unit]


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    rps: float
    bytes_read: float
    latency_ms: dict[str, float]  # "avg", "stdev", "max", "p50", "p75", "p90", "p99"
    socket_errors: dict[str, int] = field(default_factory=dict)  # connect, read, write, timeout
    non_2xx_3xx: int = 0

    @property
    def errors(self) -> int:
        return self.non_2xx_3xx + sum(self.socket_errors.values())

    @property
    def p50(self) -> float:
        return self.latency_ms["p50"]

    @property
    def p99(self) -> float:
        return self.latency_ms["p99"]

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"errors": self.errors}


def parse(output: str) -> WrkResult:
    """Read the report of `wrk --latency`."""
    rps = _RPS.search(output)
    requests = _REQUESTS.search(output)
    percentiles = {
        f"p{m.group(1)}": milliseconds(m.group(2), m.group(3)) for m in _PERCENTILE.finditer(output)
    }
    if rps is None or requests is None or len(percentiles) < 4:
        raise WrkError(f"cannot read the wrk report (was --latency given?):\n{output}")
    latency = dict(percentiles)
    summary = _LATENCY.search(output)
    if summary is not None:
        avg, stdev, top = (milliseconds(summary.group(i), summary.group(i + 1)) for i in (1, 3, 5))
        latency |= {"avg": avg, "stdev": stdev, "max": top}
    socket = _SOCKET.search(output)
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, socket.groups()), strict=True))
        if socket
        else {}
    )
    non_2xx = _NON_2XX.search(output)
    return WrkResult(
        requests=int(requests.group(1)),
        seconds=milliseconds(requests.group(2), requests.group(3)) / 1e3,
        rps=float(rps.group(1)),
        bytes_read=float(requests.group(4)) * _BYTES[requests.group(5)],
        latency_ms=latency,
        socket_errors=socket_errors,
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def find() -> str | None:
    return shutil.which("wrk")


def version(binary: str) -> str:
    """wrk's version line, e.g. 'wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer'."""
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


@dataclass(frozen=True)
class Load:
    """How hard to drive a server: wrk's -t, -c, -d and --timeout."""

    threads: int = 2
    connections: int = 32
    seconds: float = 10.0
    timeout: float = 10.0

    def arguments(self, seconds: float | None = None) -> list[str]:
        duration = self.seconds if seconds is None else seconds
        return [
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{max(1, round(duration))}s",
            f"--timeout={max(1, round(self.timeout))}s",
        ]


def run(
    binary: str,
    url: str,
    load: Load,
    headers: dict[str, str] | None = None,
    seconds: float | None = None,
    script: Path | None = None,
) -> tuple[WrkResult, str]:
    """Drive `url` for `seconds` (default: the load's), with the Lua `script` when given
    (see post_script); the result and wrk's report."""
    command = [binary, *load.arguments(seconds), "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    duration = load.seconds if seconds is None else seconds
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + load.timeout + 60
        )
    except subprocess.TimeoutExpired as e:
        raise WrkError(f"wrk did not finish: {' '.join(command)}") from e
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout}")
    return parse(done.stdout), done.stdout


def post_script(script: Path, body: Path, content_type: str) -> Path:
    """Write a wrk script that POSTs the bytes of the file `body` in every request."""
    script.parent.mkdir(parents=True, exist_ok=True)
    lua = (
        f"local file = assert(io.open({_lua_string(str(body))}, 'rb'))\n"
        "wrk.body = file:read('*a')\n"
        "file:close()\n"
        "wrk.method = 'POST'\n"
        f"wrk.headers['Content-Type'] = {_lua_string(content_type)}\n"
    )
    script.write_text(lua)
    return script


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
