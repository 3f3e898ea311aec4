"""numba's cache of the compiled passes, kept in step with every source they are built from.

numba checks a cached function against its own file only. The passes (:mod:`.period`,
:mod:`.moving`) compile in the rules of the phases, the response curves and the parameters
from other files, so an edit of one of those alone (a ``git pull``, a change in a working
copy) would leave the cached passes as they were, silently. Before any kernel is loaded, the
sources of the market package are fingerprinted; where the fingerprint differs from the one
the cache was built with, the package's cache index files are removed, and numba compiles
afresh (once, as on a new machine).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
FINGERPRINT = "relsim-kernels.sha256"


def fingerprint() -> str:
    """A digest of every Python source of the market package and its phases."""
    digest = hashlib.sha256()
    for path in sorted([*PACKAGE.glob("*.py"), *PACKAGE.glob("phases/*.py")]):
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_folders() -> list[Path]:
    """Where numba keeps the package's cache: next to the sources, or under NUMBA_CACHE_DIR."""
    folders = [PACKAGE / "__pycache__", PACKAGE / "phases" / "__pycache__"]
    root = os.environ.get("NUMBA_CACHE_DIR")
    if root:
        # numba mirrors the source's absolute path under its cache folder.
        mirrored = Path(root) / PACKAGE.relative_to(PACKAGE.anchor)
        folders += [mirrored, mirrored / "phases"]
    return folders


def keep_cache_in_step() -> None:
    """Drop the cached kernels if any source of the package changed since they were built.

    A read-only installation is left as it is (numba then caches elsewhere or not at all).
    """
    current = fingerprint()
    for folder in cache_folders():
        stamp = folder / FINGERPRINT
        try:
            if stamp.exists() and stamp.read_text() == current:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            for cached in [*folder.glob("*.nbi"), *folder.glob("*.nbc")]:
                cached.unlink(missing_ok=True)
            stamp.write_text(current)
        except OSError:
            continue
