"""Serving the dashboard: ``solara run`` of the app in a child process, on loopback.

The scenario reaches the app through the environment variable :data:`SCENARIO_ENV` (the app
reads it when it is imported, see :func:`simulation.dashboard.market.dashboard_scenario`).
:func:`start` returns at once, for tests and scripts; :func:`serve` is what
``relsim dashboard`` calls: it checks that the address can be listened on, starts the server,
prints the address once the server answers there, and waits.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from simulation.errors import ResourceError, UserError
from simulation.limits import PORT_RANGE
from simulation.runs.interrupts import sigterm_as_interrupt

APP = Path(__file__).resolve().parent / "app.py"
SCENARIO_ENV = "RELSIM_DASHBOARD_SCENARIO"
"""Environment variable naming the scenario the dashboard opens (a bundled name or a file)."""
READY_TIMEOUT = 120.0
"""Seconds the server may take to answer (its first start on a machine compiles a little)."""


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
    # Every visitor's market lives in their session: free it half an hour after the tab is
    # closed or reloaded, rather than after solara's default of a day.
    env.setdefault("SOLARA_KERNEL_CULL_TIMEOUT", "30m")
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


def check_address(host: str, port: int | None) -> tuple[int, bool]:
    """Check that the server can listen at ``host:port`` before anything is started.

    Returns:
        The port (a free one when ``port`` is None), and whether ``host`` is this machine
        only (a loopback address).

    Raises:
        UserError: a port out of range, a host that does not resolve, an address in use.
    """
    low, high = PORT_RANGE
    if port is not None and not low <= port <= high:
        raise UserError(f"--port {port}: is not allowed: give a port from {low} to {high}")
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)[
            0
        ]
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UserError(
            f"--host {host}: cannot be resolved ({reason}); give a name or address of this "
            "machine, such as 127.0.0.1"
        ) from None
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind(address)
        except OSError as exc:
            raise UserError(
                f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); "
                "choose another --port, or leave it out to get a free one"
            ) from None
        chosen = int(probe.getsockname()[1])
    return chosen, ipaddress.ip_address(address[0].split("%")[0]).is_loopback


def serve(scenario: str | None = None, host: str = "127.0.0.1", port: int | None = None) -> None:
    """Serve the dashboard until Ctrl+C: check the address, start, then print the address.

    The address is printed only once the server answers there, so a port in use or a
    server that fails to start ends in one error line, never after a printed address.

    Args:
        scenario: scenario name or file (default: the default scenario).
        host: address to listen on (loopback by default: the page is for this machine).
        port: port to listen on (default: a free one).

    Raises:
        UserError: a bad ``--host`` or ``--port`` (exit status 2).
        ResourceError: the server did not start (exit status 3).
    """
    port, private = check_address(host, port)
    if not private:
        print(
            f"warning: --host {host} serves the dashboard, with no password, to everyone who "
            f"can reach this machine on port {port}; for a classroom, keep the default "
            "(this machine only) behind a reverse proxy that asks for a login or a token, "
            "or let students reach it through an SSH tunnel",
            file=sys.stderr,
            flush=True,
        )
    with sigterm_as_interrupt():
        process, url = start(scenario, host=host, port=port)
        try:
            local = url if host not in ("0.0.0.0", "::", "") else f"http://127.0.0.1:{port}/"
            try:
                wait_until_ready(local, process, timeout=READY_TIMEOUT)
            except RuntimeError as exc:
                raise ResourceError(f"dashboard: {exc}") from None
            print(f"relsim dashboard: {url}  (open it in a browser; Ctrl+C stops it)", flush=True)
            code = process.wait()
        except KeyboardInterrupt:
            return
        finally:
            # Never leave the server running without its parent.
            stop(process)
    if code:
        raise SystemExit(code)
