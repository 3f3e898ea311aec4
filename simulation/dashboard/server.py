"""Serving the dashboard: ``solara run`` of the app in a child process, on loopback.

The scenario reaches the app through the environment variable :data:`SCENARIO_ENV` (the app
reads it when it is imported, see :func:`simulation.dashboard.market.dashboard_scenario`).
:func:`start` returns at once, for tests and scripts; :func:`serve` is what
``relsim dashboard`` calls: it prints the address and waits.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from simulation.runs.interrupts import sigterm_as_interrupt

APP = Path(__file__).resolve().parent / "app.py"
SCENARIO_ENV = "RELSIM_DASHBOARD_SCENARIO"
"""Environment variable naming the scenario the dashboard opens (a bundled name or a file)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def scenario_argument(scenario: str | None) -> str | None:
    """An existing file becomes an absolute path, so the server may run from any folder."""
    if scenario is None:
        return None
    path = Path(scenario)
    return str(path.resolve()) if path.is_file() else scenario


def command(host: str, port: int) -> list[str]:
    """The ``solara run`` command line for the dashboard."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        str(APP),
        "--host",
        host,
        "--port",
        str(port),
        # Production mode: no file watching or hot reload, which a classroom does not need.
        "--production",
        "--no-open",
        "--log-level",
        "warning",
    ]


def start(
    scenario: str | None = None, host: str = "127.0.0.1", port: int | None = None
) -> tuple[subprocess.Popen, str]:
    """Start the dashboard server in a child process and return it with its address.

    Args:
        scenario: scenario name or file (default: the default scenario).
        host: address to listen on.
        port: port to listen on (default: a free one).

    Returns:
        The server process and the page's URL. The server may still be starting: see
        :func:`wait_until_ready`.
    """
    port = free_port(host) if port is None else int(port)
    env = dict(os.environ)
    chosen = scenario_argument(scenario)
    if chosen is None:
        env.pop(SCENARIO_ENV, None)
    else:
        env[SCENARIO_ENV] = chosen
    env.setdefault("MPLBACKEND", "Agg")
    # Third-party start-up warnings (cookie policy on plain http, a hook-order check in
    # Mesa's own page) mean nothing to a teacher; errors still show.
    env.setdefault("PYTHONWARNINGS", "ignore::UserWarning")
    process = subprocess.Popen(command(host, port), env=env)
    return process, f"http://{host}:{port}/"


def wait_until_ready(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until the server answers at ``url``.

    Raises:
        RuntimeError: the server exited, or did not answer within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dashboard server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the dashboard did not answer at {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop the server: politely first, then firmly."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def serve(scenario: str | None = None, host: str = "127.0.0.1", port: int | None = None) -> None:
    """Serve the dashboard until Ctrl+C: print the address, then run the server.

    Args:
        scenario: scenario name or file (default: the default scenario).
        host: address to listen on (loopback by default: the page is for this machine).
        port: port to listen on (default: a free one).
    """
    process, url = start(scenario, host=host, port=port)
    print(f"relsim dashboard: {url}  (open it in a browser; Ctrl+C stops it)", flush=True)
    with sigterm_as_interrupt():
        try:
            code = process.wait()
        except KeyboardInterrupt:
            return
        finally:
            # Never leave the server running without its parent.
            stop(process)
    if code:
        raise SystemExit(code)
