"""numba's cache of the compiled passes follows every source they are built from."""

from __future__ import annotations

from simulation.market import compiled


def make_package(root):
    """A package with a module, a phase and a cached kernel next to each."""
    (root / "phases" / "__pycache__").mkdir(parents=True)
    (root / "__pycache__").mkdir()
    (root / "period.py").write_text("def whole_period(): pass\n")
    (root / "phases" / "churn.py").write_text("RATE = 1\n")
    for folder in (root / "__pycache__", root / "phases" / "__pycache__"):
        (folder / "kernel-1.py311.nbi").write_bytes(b"index")
        (folder / "kernel-1.py311.1.nbc").write_bytes(b"code")


def cached(root) -> list[str]:
    return sorted(p.name for p in root.rglob("*.nb[ic]"))


def test_an_edit_of_any_source_drops_the_cached_kernels(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(compiled, "PACKAGE", tmp_path)
    make_package(tmp_path)
    compiled.keep_cache_in_step()  # no fingerprint yet: the cache's sources are unknown
    assert cached(tmp_path) == []
    folders = [tmp_path / "__pycache__", tmp_path / "phases" / "__pycache__"]
    for folder in folders:
        (folder / "kernel-1.py311.nbi").write_bytes(b"index")
    compiled.keep_cache_in_step()  # nothing changed: the cache stays
    assert len(cached(tmp_path)) == 2
    (tmp_path / "phases" / "churn.py").write_text("RATE = 2\n")  # a phase, not the pass
    compiled.keep_cache_in_step()
    assert cached(tmp_path) == []


def test_a_read_only_cache_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(compiled, "PACKAGE", tmp_path / "missing")
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/proc/relsim-cannot-write-here")
    compiled.keep_cache_in_step()  # no error: numba caches elsewhere or not at all
