"""The sweep folder: tables streamed to disk, run identities, atomic writes, resume.

Layout of a sweep folder::

    manifest.json        what ran, with which seeds, versions and workers; "complete": true|false
    experiment.yaml      the experiment with every default filled in
    scenario.yaml        the resolved base scenario
    design.csv           the design points
    runs/point-*.parquet one file per finished task (a design point's batch of replications),
                         written to a temporary name and moved into place with os.replace,
                         so a killed sweep never leaves half a file under a final name; its
                         name ends with a seal, a hash of the sweep's fingerprint and of the
                         file's bytes, so a file this sweep did not write, or one damaged
                         since, is recognised
    set_aside/           files found in runs/ that fail their seal, moved out of the way
    errors/<run>.json    one file per failed run: its error and traceback
    runs.parquet         all runs in one table (rebuilt by the report from runs/)
    points.csv, ...      summaries, report.md and plots/ (see report.py)

Tables are Parquet when pyarrow is installed and CSV otherwise; a folder keeps the format it
was started with. A run is one (design point, replication): every compared policy is run on
it with the same seed. Its identity is a hash of the resolved scenario at the point, the
point's factor values, the replication and the seed, so a resumed sweep can tell exactly
which runs are already on disk.

Every run file is checked against its seal before it is used (resumed or reported). A file
that fails, copied from another sweep, edited, or truncated by a crash, is reported in one
line and moved to ``set_aside/``; its runs count as not done, so resuming computes exactly
those again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from simulation.errors import UserError, os_error_line

MANIFEST = "manifest.json"
RUNS_DIR = "runs"
ERRORS_DIR = "errors"
SET_ASIDE_DIR = "set_aside"
SWEEP_KIND = "relsim-sweep"


def default_format() -> str:
    """``parquet`` when pyarrow is importable, else ``csv``."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return "csv"
    return "parquet"


def hash_text(text: str, length: int = 16) -> str:
    """A short, stable hex digest of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def file_digest(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr, flush=True)


def run_identity(scenario_hash: str, point: dict[str, Any], replication: int, seed: int) -> str:
    """The identity of one run: (resolved scenario, design point, replication, seed).

    The seed is part of it because the master seed is not part of the scenario: the same
    point under another master seed is another run.
    """
    payload = json.dumps(
        {"scenario": scenario_hash, "point": point, "replication": replication, "seed": seed},
        sort_keys=True,
        default=str,
    )
    return hash_text(payload)


# --------------------------------------------------------------------------- atomic writes
def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new, never half."""
    tmp = _temporary(path)
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_table(path: Path, table: pd.DataFrame) -> None:
    """Write a table atomically; the suffix of ``path`` picks Parquet or CSV."""
    tmp = _temporary(path)
    try:
        if path.suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def read_table(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (optionally only some columns)."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path, columns=columns)
    # Identities are hex text: one made only of digits must not turn into a number.
    text = {c: str for c in ("run_id", "policy", "baseline", "outcome")}
    table = pd.read_csv(path, usecols=columns, dtype=text)
    return table


# --------------------------------------------------------------------------- the folder
class SweepStore:
    """Reads and writes one sweep folder.

    Args:
        root: the folder.
        fmt: ``parquet`` or ``csv``; default: the folder's own format, else the best available.
    """

    def __init__(self, root: str | Path, fmt: str | None = None):
        self.root = Path(root)
        self._errors: set[str] | None = None
        manifest = self.read_manifest() if self.is_sweep() else {}
        self.fmt = fmt or manifest.get("format") or default_format()
        self.key = str(manifest.get("fingerprint", ""))
        # Folders of older relsim versions have unsealed run files, accepted as they are.
        self.sealed = bool(manifest.get("sealed", not manifest))
        self._verified: set[str] | None = None
        self.on_notice: Callable[[str], None] = _warn

    # ---------------------------------------------------------------- paths
    @property
    def runs_dir(self) -> Path:
        """Folder of the per-task run tables."""
        return self.root / RUNS_DIR

    @property
    def errors_dir(self) -> Path:
        """Folder of the per-run error records."""
        return self.root / ERRORS_DIR

    @property
    def suffix(self) -> str:
        """File suffix of the tables."""
        return ".parquet" if self.fmt == "parquet" else ".csv"

    def path(self, name: str) -> Path:
        """A file in the folder."""
        return self.root / name

    # ---------------------------------------------------------------- manifest
    def is_sweep(self) -> bool:
        """Whether the folder holds a sweep manifest."""
        try:
            return self.read_manifest().get("kind") == SWEEP_KIND
        except (OSError, ValueError):
            return False

    def read_manifest(self) -> dict[str, Any]:
        """The manifest (raises OSError or ValueError when missing or unreadable)."""
        return json.loads((self.root / MANIFEST).read_text(encoding="utf-8"))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write the manifest atomically."""
        manifest = {"kind": SWEEP_KIND, "format": self.fmt, **manifest, "sealed": self.sealed}
        atomic_write_text(self.root / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")

    # ---------------------------------------------------------------- preparing
    def prepare(self, fingerprint: str, *, overwrite: bool, experiment: str) -> bool:
        """Make the folder ready for a sweep with ``fingerprint``.

        Returns:
            True when the folder already holds this sweep (it will be resumed).

        Raises:
            UserError: the folder holds something else and ``overwrite`` is not set.
        """
        self.key = fingerprint
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"--out {self.root}: is a file, not a folder; choose another --out")
        try:
            return self._prepare(fingerprint, overwrite=overwrite, experiment=experiment)
        except OSError as exc:
            line = os_error_line(exc, "cannot write here")
            raise UserError(f"--out {self.root}: {line}; choose another --out") from None

    def _prepare(self, fingerprint: str, *, overwrite: bool, experiment: str) -> bool:
        if self.root.exists() and any(self.root.iterdir()):
            if not self.is_sweep():
                raise UserError(
                    f"--out {self.root}: the folder exists and does not hold a relsim sweep; "
                    "choose another --out (relsim only replaces its own sweep folders)"
                )
            same = self.read_manifest().get("fingerprint") == fingerprint
            if overwrite:
                self.clear()
            elif same:
                manifest = self.read_manifest()
                self.fmt = manifest.get("format", self.fmt)
                self.sealed = bool(manifest.get("sealed", False))
                self._remove_temporaries()
                return True
            else:
                raise UserError(
                    f"--out {self.root}: holds a sweep of a different experiment (or a changed "
                    f"version of {experiment}); choose another --out, or pass --overwrite to "
                    "replace it"
                )
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs_dir.mkdir(exist_ok=True)
        self.errors_dir.mkdir(exist_ok=True)
        self.sealed, self._verified = True, set()
        return False

    def clear(self) -> None:
        """Delete the contents of a sweep folder (only ever called on one)."""
        self._errors = None
        self._verified = None
        for child in self.root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def _remove_temporaries(self) -> None:
        """Drop temporary files a killed sweep left behind (never under a final name)."""
        for folder in (self.root, self.runs_dir, self.errors_dir):
            found = [*folder.glob(".*.tmp"), *folder.glob(".sealing-*")] if folder.is_dir() else []
            for tmp in found:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    # ---------------------------------------------------------------- runs
    def part_path(self, point: int, run_ids: Iterable[str]) -> Path:
        """File of one task's runs: named by point and by the runs it holds."""
        digest = hash_text(",".join(run_ids), 10)
        return self.runs_dir / f"point-{point:07d}-{digest}{self.suffix}"

    def seal(self, path: Path) -> str:
        """The seal of a file: this sweep's fingerprint and the file's bytes, hashed."""
        return hash_text(f"{self.key}:{file_digest(path)}", 12)

    def write_part(self, point: int, run_ids: list[str], table: pd.DataFrame) -> Path:
        """Stream one task's runs to disk, sealed (see :meth:`verified_parts`)."""
        unsealed = self.part_path(point, run_ids)
        tmp = unsealed.with_name(f".sealing-{unsealed.name}")
        write_table(tmp, table)
        path = unsealed.with_name(f"{unsealed.stem}-{self.seal(tmp)}{self.suffix}")
        os.replace(tmp, path)
        if self._verified is not None:
            self._verified.add(path.name)
        return path

    def parts(self) -> list[Path]:
        """Run tables on disk that pass their check, in order of design point.

        A file that fails is moved to ``set_aside/`` and reported in one line (see
        :meth:`verify`); its runs count as not done.
        """
        if not self.runs_dir.is_dir():
            return []
        found = sorted(self.runs_dir.glob(f"point-*{self.suffix}"))
        self.verify(found)
        return [p for p in found if p.exists()]

    def verify(self, paths: list[Path]) -> None:
        """Check each run file against its seal once; set aside those that fail."""
        if self._verified is None:
            self._verified = set()
        foreign: list[Path] = []
        damaged: list[Path] = []
        for path in paths:
            if path.name in self._verified:
                continue
            problem = self._check(path)
            if problem is None:
                self._verified.add(path.name)
            else:
                (damaged if problem == "damaged" else foreign).append(path)
        if foreign or damaged:
            self._set_aside(foreign, damaged)

    def _check(self, path: Path) -> str | None:
        """None for a good file, else ``foreign`` or ``damaged``."""
        parts = path.name[: -len(self.suffix)].split("-")
        try:
            if len(parts) == 4 and parts[3] == self.seal(path):
                return None
            if len(parts) == 3 and not self.sealed:
                read_table(path, ["run_id"])  # an older, unsealed folder: readable is enough
                return None
            read_table(path, ["run_id"])
        except Exception:  # noqa: BLE001 - any failure to read means a damaged file
            return "damaged"
        return "foreign"

    def _set_aside(self, foreign: list[Path], damaged: list[Path]) -> None:
        folder = self.root / SET_ASIDE_DIR
        folder.mkdir(exist_ok=True)
        for path in foreign + damaged:
            target = folder / path.name
            if target.exists():
                target = (
                    folder / f"{path.stem}-{os.getpid()}-{len(list(folder.iterdir()))}{path.suffix}"
                )
            os.replace(path, target)
        if self.is_sweep():  # the runs set aside are missing: the sweep is not complete
            manifest = self.read_manifest()
            manifest.update(complete=False, status=f"run files set aside in {SET_ASIDE_DIR}/")
            self.write_manifest(manifest)
        what = [f"{len(foreign)} not written by this sweep"] if foreign else []
        what += [f"{len(damaged)} damaged (unreadable)"] if damaged else []
        self.on_notice(
            f"{self.runs_dir}: {len(foreign) + len(damaged)} run files set aside in "
            f"{folder}/ ({', '.join(what)}); their runs count as not done, and resuming "
            "the sweep computes them again"
        )

    def parts_by_point(self) -> Iterator[tuple[int, list[Path]]]:
        """Run tables grouped by design point, in order of point."""
        group: list[Path] = []
        current = -1
        for path in self.parts():
            point = int(path.name.split("-")[1])
            if point != current and group:
                yield current, group
                group = []
            current = point
            group.append(path)
        if group:
            yield current, group

    def read_point(self, paths: list[Path], columns: list[str] | None = None) -> pd.DataFrame:
        """All runs of one design point, sorted by replication and policy order of the file."""
        tables = [read_table(p, columns) for p in paths]
        table = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
        # A run is in one file only, but drop duplicates anyway: a run counts once.
        table = table.drop_duplicates(subset=["run_id", "policy"], keep="last")
        return table.sort_values(["replication"], kind="stable").reset_index(drop=True)

    # ---------------------------------------------------------------- errors
    def write_error(self, record: dict[str, Any]) -> None:
        """Record a failed run (its identity names the file, so a retry replaces it)."""
        path = self.errors_dir / f"{record['run_id']}.json"
        atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
        self._error_ids().add(str(record["run_id"]))

    def clear_error(self, run_id: str) -> None:
        """Forget the error of a run that has now succeeded."""
        if run_id not in self._error_ids():
            return
        with contextlib.suppress(FileNotFoundError):
            (self.errors_dir / f"{run_id}.json").unlink()
        self._errors.discard(run_id)

    def _error_ids(self) -> set[str]:
        # Runs with an error file, listed once: most sweeps have none, and looking for a file
        # per successful run would cost a system call each.
        if self._errors is None:
            found = self.errors_dir.glob("*.json") if self.errors_dir.is_dir() else []
            self._errors = {p.stem for p in found}
        return self._errors

    def errors(self) -> Iterator[dict[str, Any]]:
        """The recorded errors, in order of file name."""
        if not self.errors_dir.is_dir():
            return
        for path in sorted(self.errors_dir.glob("*.json")):
            try:
                yield json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue

    def error_count(self) -> int:
        """Number of runs whose last attempt failed."""
        return len(list(self.errors_dir.glob("*.json"))) if self.errors_dir.is_dir() else 0
