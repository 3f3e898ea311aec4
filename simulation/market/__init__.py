"""The market model: customers and firms, one module per mechanism."""

from simulation.market.compiled import keep_cache_in_step

keep_cache_in_step()  # before any compiled pass is loaded from numba's cache
