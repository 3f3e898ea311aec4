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

import numpy as np
from numba import njit


@njit(inline="always")
def one_if(flag: bool) -> float:
    """1.0 where ``flag`` holds, else 0.0."""
    return 1.0 if flag else 0.0


@njit(inline="always")
def is_targeted(targeted: np.ndarray, i: int) -> bool:
    """Whether customer ``i`` of a firm gets its retention effort (all if ``targeted`` is empty)."""
    return targeted.shape[0] == 0 or targeted[i]


@njit(inline="always")
def is_low_value(low_value: np.ndarray, i: int) -> bool:
    """Whether customer ``i``'s service is cut (nobody's if ``low_value`` is empty)."""
    return low_value.shape[0] > 0 and low_value[i]
