"""The phases of a period, one module each, in the order a step runs them.

1. :mod:`.win_back`: lapsed customers may be won back, or drift back into the market;
2. :mod:`.churn`: customers leave for a rival or leave the market;
3. :mod:`.acquisition`: prospects are won by advertising and by word of mouth;
4. :mod:`.service`: purchases, failures and recovery, contacts, satisfaction, trust;
   :mod:`.loyalty` holds the points customers earn there and lose when they leave;
5. :mod:`.books`: lifecycle stages and each firm's accounts for the period.

Each module holds its rules as compiled functions of one customer (or a pass over all of them,
for purchases and service); :mod:`simulation.market.period` calls them in order, in a few
compiled passes per period. They draw no random numbers: they read the period's block of
uniforms (:mod:`simulation.market.randomness`). They are plain Python: with
``NUMBA_DISABLE_JIT=1`` in the environment they run uncompiled (slowly), which lets a debugger
step through a customer's period.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numba import njit
from numba.core import options


@njit(inline="always")
def one_if(flag: bool) -> float:
    """1.0 where ``flag`` holds, else 0.0."""
    return 1.0 if flag else 0.0


# numba's private option to compile without its runtime; kept wherever numba still has it.
_NO_RUNTIME = {"_nrt": False} if hasattr(options.DefaultOptions, "_nrt") else {}


def in_place(function: Callable | None = None, **options: Any) -> Callable:
    """Compile a function that reads and writes the population's arrays in place.

    numba counts references to every array of the tuples a compiled function with branches
    is handed, two atomic operations per array per call: a helper taking the population's
    tuples cost about 0.6 microseconds a call in counting alone, more than its work, and two
    threads counting on the same arrays slow each other down. Such a function is compiled
    without numba's runtime, which counts nothing; it must make no arrays. ``options`` are
    numba's (``@in_place(cache=True, nogil=True)`` for a kernel called from Python).
    """
    compile_ = njit(error_model="numpy", **_NO_RUNTIME, **options)
    return compile_ if function is None else compile_(function)
