"""Whether the compiled kernels are in numba's on-disk cache, so that a cold start can be announced.

The first run after installing (or after the kernels' source changed) compiles them, which
takes about 20 seconds; every later run loads them from the cache next to the modules.
"""

from __future__ import annotations

import importlib
import pkgutil

COMPILE_NOTE = (
    "Compiling the simulation kernels once (about 20 seconds); later runs load them from the cache."
)
"""What the command line says before a run that has to compile the kernels."""


def kernels_need_compiling() -> bool:
    """True when some cached kernel of the market phases has no valid entry in numba's cache.

    Reads numba's cache index (its source stamp and numba version must match), without
    compiling anything. Any surprise in numba's internals counts as a warm cache: this only
    decides whether to print a note.
    """
    try:
        from numba.core.registry import CPUDispatcher

        import simulation.market.phases as phases

        names = [f"{phases.__name__}.{info.name}" for info in pkgutil.iter_modules(phases.__path__)]
        for name in [*names, "simulation.market.period"]:
            module = importlib.import_module(name)
            for kernel in vars(module).values():
                if not isinstance(kernel, CPUDispatcher) or kernel.__module__ != module.__name__:
                    continue
                cache_file = getattr(kernel._cache, "_cache_file", None)
                if cache_file is not None and not cache_file._load_index():
                    return True
    except Exception:  # noqa: BLE001 - internals of another library; a note is not worth a crash
        return False
    return False
