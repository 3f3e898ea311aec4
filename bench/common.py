"""Shared machinery of the benchmarks: fresh child processes, peak memory, tables.

Every measurement runs in a fresh Python process, so that one size's peak memory (read from
the OS with ``resource.getrusage``) does not include another's, and imports, caches and the
garbage collector start from the same state each time.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHILD_FLAG = "--child"


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(script: str | Path, params: dict[str, Any], timeout: float = 1800) -> dict:
    """Run ``script --child PARAMS`` in a fresh interpreter and return its JSON answer.

    The child prints one JSON object on its last line of output.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), str(ROOT / "bench"), env.get("PYTHONPATH", "")) if p
    )
    done = subprocess.run(
        [sys.executable, str(script), CHILD_FLAG, json.dumps(params)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{Path(script).name} {params} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_main(measure: Callable[[dict], dict]) -> bool:
    """If this process is a child, run ``measure`` on its parameters, print JSON, return True."""
    if len(sys.argv) == 3 and sys.argv[1] == CHILD_FLAG:
        result = measure(json.loads(sys.argv[2]))
        result["peak_rss_mib"] = round(peak_rss_mib(), 1)
        print(json.dumps(result))
        return True
    return False


def machine() -> str:
    """One line saying where the numbers come from."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    import mesa
    import numpy

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Mesa {mesa.__version__}, numpy {numpy.__version__}; "
        f"load average {load}"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| "
        + " | ".join(
            c.ljust(w) if isinstance(v, str) else c.rjust(w)
            for v, c, w in zip(row_values, row, widths, strict=True)
        )
        + " |"
        for row_values, row in zip(rows, cells, strict=True)
    ]
    return "\n".join([line, rule, *body])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
