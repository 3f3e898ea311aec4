"""The compiled kernels of every phase against the same code run by Python."""

SMALL_RUN = """
import sys
from simulation.market.model import RelationshipMarket
from simulation.runs.runner import firm_timeseries

model = RelationshipMarket(rng=3, customers=300, periods=12, customer_agents=False)
model.run()
firm_timeseries(model).to_csv(sys.stdout, index=False, float_format="%.17g")
"""


def test_compiled_kernels_match_the_same_code_run_by_python(tmp_path):
    # NUMBA_DISABLE_JIT makes numba run the kernels as the plain Python they are written in:
    # a compiled kernel that read or typed anything differently would change the tables.
    import io
    import os
    import subprocess
    import sys

    import pandas as pd

    def run(disable_jit: str) -> pd.DataFrame:
        env = {**os.environ, "NUMBA_DISABLE_JIT": disable_jit}
        out = subprocess.run(
            [sys.executable, "-c", SMALL_RUN], env=env, capture_output=True, text=True, check=True
        ).stdout
        return pd.read_csv(io.StringIO(out))

    compiled, interpreted = run("0"), run("1")
    # Interpreted, numpy keeps float32 * Python float in float32 (NEP 50) where the compiled
    # code computes in float64: satisfaction may differ in its last float32 bit (2e-8 of the
    # mean satisfaction was seen), far inside 1e-6; everything else must agree exactly.
    pd.testing.assert_frame_equal(compiled, interpreted, check_exact=False, rtol=1e-6)
    exact = [c for c in compiled.columns if c != "mean_satisfaction"]
    pd.testing.assert_frame_equal(compiled[exact], interpreted[exact], check_exact=True)
    assert compiled["acquired"].sum() > 0 and compiled["churned"].sum() > 0
