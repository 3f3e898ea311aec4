"""The output folder of a run: checked and claimed before simulating, swapped in whole.

:func:`claim_target` does, before a single customer is simulated, everything that could
make writing the results fail: it resolves a symbolic link to the folder it names, refuses
the current folder, a name too long for its temporary sibling, a path under a file and a
folder that is not relsim's own results; it takes an exclusive lock beside the target (two
runs racing for one folder: exactly one gets it, the other is told at once) and creates the
staging folder the results are written into. :meth:`Claim.commit` moves the finished folder
into place with one rename (a swap when replacing), and :meth:`Claim.release` removes
whatever is left of the staging folder and the lock.

A results folder lists every file it holds in ``manifest.json``, with the SHA-256 of each
table; relsim replaces a folder only when it holds nothing else, and checks the tables
against their checksums before it reads them again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from simulation.errors import ResourceError, UserError, os_error_line
from simulation.runs.interrupts import signals_held

try:  # POSIX; elsewhere two runs racing for one folder are not detected
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

STAGING_TAG = ".partial-"
OLD_TAG = ".old-"
# What relsim wrote in results folders made before their manifest listed their files.
LEGACY_FILES = {
    "scenario.yaml",
    "timeseries.csv",
    "summary.csv",
    "comparison.csv",
    "cohorts.csv",
    "lifetime_values.csv",
    "report.md",
}
TABLE_SUFFIXES = (".csv", ".yaml")


# --------------------------------------------------------------------------- checksums
def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_checksums(folder: Path) -> dict[str, str | None]:
    """Every file of ``folder`` but ``manifest.json``, by relative path: tables with a SHA-256.

    The report and its figures get ``None``: they carry the run's timing, so two runs of the
    same scenario and seed have the same manifest but for their timing.
    """
    found: dict[str, str | None] = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name != "manifest.json" and not _is_temporary(path):
            found[name] = sha256(path) if name.endswith(TABLE_SUFFIXES) else None
    return found


def verify_tables(folder: Path, manifest: dict[str, Any]) -> None:
    """Check the tables of a results folder against the checksums of its manifest.

    Raises:
        UserError: a table that is missing or changed since relsim wrote it.
    """
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        return  # written before manifests listed files: nothing to compare with
    for name, expected in listed.items():
        if not str(name).endswith(TABLE_SUFFIXES) or expected is None:
            continue
        path = folder / name
        if not path.is_file():
            raise UserError(f"{path}: missing from the results folder; run the scenario again")
        if sha256(path) != expected:
            raise UserError(
                f"{path}: changed since relsim wrote it (its checksum differs from "
                "manifest.json); run the scenario again rather than report altered results"
            )


def refresh_report_checksums(folder: Path, manifest: dict[str, Any]) -> None:
    """After a report was rebuilt: list its files anew, keeping the tables' own checksums.

    Tables keep the checksums written with the run, so a table changed by hand stays
    detectable.
    """
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        return
    tables = {k: v for k, v in listed.items() if str(k).endswith(TABLE_SUFFIXES)}
    report = {k: v for k, v in file_checksums(folder).items() if not k.endswith(TABLE_SUFFIXES)}
    text = json.dumps({**manifest, "files": {**tables, **report}}, indent=2) + "\n"
    write_text_atomically(folder / "manifest.json", text)


def _is_temporary(path: Path) -> bool:
    """A temporary file of relsim's atomic writes (a kill can leave one behind)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def foreign_files(folder: Path) -> list[str]:
    """Files of ``folder`` that relsim did not write there (all of them if it is not a run).

    A folder is relsim's when its ``manifest.json`` says it holds a run, and every file in
    it is listed in that manifest (or, for older folders, has the name of a file a run
    writes).
    """
    try:
        manifest = json_file(folder / "manifest.json")
    except (OSError, ValueError):
        manifest = {}
    own = isinstance(manifest, dict) and manifest.get("kind") in ("run", "calibration")
    listed = manifest.get("files") if own else None
    foreign = []
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_dir() and not path.is_symlink() or _is_temporary(path):
            continue
        if name == "manifest.json" and own:
            continue
        if not own:
            foreign.append(name)
        elif isinstance(listed, dict):
            if name not in listed:
                foreign.append(name)
        elif not (name in LEGACY_FILES or (name.startswith("plots/") and name.endswith(".png"))):
            foreign.append(name)
    return foreign


def json_file(path: Path) -> Any:
    """Parse a JSON file (raises OSError or ValueError)."""
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- atomic writes
def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` so that a reader, or a kill, sees the old file or the new, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def save_figure_atomically(figure: Any, path: Path, **kwargs: Any) -> None:
    """``figure.savefig`` to a temporary name, then one rename: never a truncated image."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        figure.savefig(tmp, format=path.suffix.lstrip(".") or None, **kwargs)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# --------------------------------------------------------------------------- the claim
class Claim:
    """An output folder held by this process: its staging folder and its lock.

    Use as a context manager; :meth:`commit` moves the finished staging folder into place.
    """

    def __init__(self, out: Path, final: Path, staging: Path, lock: tuple[int, Path] | None):
        self.out = out
        self.final = final
        self.staging = staging
        self._lock = lock
        self.replacing = False

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def commit(self) -> Path:
        """Move the finished staging folder into place and return the folder given.

        Raises:
            ResourceError: a folder that relsim did not write appeared at the target while
                the run was going on, or the rename failed.
        """
        final = self.final
        try:
            if final.exists() or final.is_symlink():
                foreign = (
                    [] if self.replacing else foreign_files(final) if final.is_dir() else ["?"]
                )
                if foreign:
                    raise ResourceError(
                        f"{self.out}: something else was written there while relsim ran; "
                        "the results were not moved into place (nothing of it was changed)"
                    )
                old = final.parent / f".{final.name}{OLD_TAG}{uuid.uuid4().hex[:8]}"
                # A signal between the two renames would leave no folder at the target and
                # delete the new one with the staging folder: hold them until both are done.
                with signals_held():
                    os.replace(final, old)
                    os.replace(self.staging, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(self.staging, final)
        except OSError as exc:
            raise ResourceError(os_error_line(exc, "cannot move the results into place")) from None
        return self.out

    def release(self) -> None:
        """Remove what is left of the staging folder and give up the lock."""
        shutil.rmtree(self.staging, ignore_errors=True)
        if self._lock is not None:
            fd, path = self._lock
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)
            self._lock = None


def claim_target(out: Path, overwrite: bool) -> Claim:
    """Check that ``out`` can receive a run's results, lock it and create its staging folder.

    Args:
        out: the folder asked for (``--out``).
        overwrite: replace an existing results folder of relsim's.

    Raises:
        UserError: the folder cannot or must not be written (exit status 2).
        ResourceError: another relsim holds it right now (exit status 3).
    """
    final = _final_path(out)
    _refuse_file_in_path(out, final)
    _refuse_current_folder(out, final)
    _check_name_length(out, final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out}: {os_error_line(exc, 'cannot create the folder')}") from None
    lock = _lock(out, final)
    try:
        replacing = _check_existing(out, final, overwrite)
        staging = final.parent / f".{final.name}{STAGING_TAG}{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir()
        except OSError as exc:
            raise UserError(f"--out {out}: {os_error_line(exc, 'cannot write here')}") from None
    except BaseException:
        Claim(out, final, final / ".none", lock).release()
        raise
    claim = Claim(out, final, staging, lock)
    claim.replacing = replacing
    return claim


def _final_path(out: Path) -> Path:
    """Where the folder really goes: a symbolic link is followed to the folder it names."""
    if not out.is_symlink():
        return out
    if not out.exists():  # dangling, or a loop of links
        raise UserError(
            f"--out {out}: a symbolic link to {os.readlink(out)}, which does not exist; "
            "create that folder or remove the link"
        )
    return Path(os.path.realpath(out))


def _refuse_file_in_path(out: Path, final: Path) -> None:
    for parent in final.parents:
        if parent.exists() and not parent.is_dir():
            raise UserError(f"--out {out}: {parent} is a file, not a folder; choose another --out")


def _refuse_current_folder(out: Path, final: Path) -> None:
    here = Path.cwd().resolve()
    where = final.resolve()
    if where == here or where in here.parents:
        raise UserError(
            f"--out {out}: is the current folder or holds it; relsim writes a results folder "
            "of its own: choose a new folder such as --out results/NAME"
        )


def _check_name_length(out: Path, final: Path) -> None:
    existing = next((p for p in (final.parent, *final.parent.parents) if p.is_dir()), Path("."))
    try:
        most = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        most = 255
    longest = len(f".{final.name}{STAGING_TAG}12345678".encode())
    if longest > most:
        room = most - (longest - len(final.name.encode()))
        raise UserError(
            f"--out {out}: a name of {len(final.name.encode())} bytes is not allowed here: at "
            f"most {room} (relsim writes beside it under a longer temporary name first)"
        )


def _lock(out: Path, final: Path) -> tuple[int, Path] | None:
    """Take the exclusive lock of ``final`` (a hidden ``.NAME.lock`` file beside it).

    The system releases it when the process ends, however it ends; a stale lock file left by
    ``kill -9`` is simply locked again by the next run.
    """
    if fcntl is None:  # pragma: no cover
        return None
    path = final.parent / f".{final.name}.lock"
    for _ in range(5):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"--out {out}: {os_error_line(exc, 'cannot write here')}") from None
        try:
            # A POSIX record lock: held by this process only, not by the workers it forks, so
            # that a run killed with kill -9 frees its folder at once.
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ResourceError(
                f"--out {out}: another relsim run is writing this folder right now; "
                "wait for it to finish, or choose another --out"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, path
        os.close(fd)  # the previous holder removed the file as we opened it: take the new one
    raise ResourceError(f"--out {out}: the folder's lock keeps changing; try again")


def _check_existing(out: Path, final: Path, overwrite: bool) -> bool:
    """Whether an existing folder is replaced; refuse what must not be."""
    if not final.exists():
        return False
    if not final.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder; choose another with --out DIR")
    try:
        empty = not any(final.iterdir())
    except OSError as exc:
        raise UserError(f"--out {out}: {os_error_line(exc, 'cannot be read')}") from None
    if empty:
        return True
    if not overwrite:
        raise UserError(
            f"--out {out}: a results folder already exists; choose another with --out DIR "
            "or replace it with --overwrite"
        )
    foreign = foreign_files(final)
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise UserError(
            f"--out {out}: holds files relsim did not write ({shown}); relsim replaces only its "
            "own results folders, with --overwrite or without: choose another --out"
        )
    return True
