"""numpy's PCG64DXSM stream, compiled: a period's float32 uniforms and normals, the same numbers.

A period draws eight float32 uniforms and one float32 standard normal per customer
(:mod:`.randomness`). numpy fills them through a call of the bit generator per number: about
2 ns a uniform and 9 ns a normal on the project machine, a sixth of a small market's period.
:func:`fill` produces the same numbers from the same state in one compiled loop, at half the
cost, and leaves the generator's state where numpy would have left it, so that the generator
goes on exactly as if numpy had drawn them (checked in ``tests/market/test_pcg.py``, number
by number and state by state). It reads and writes that state in numpy's own memory (found
through the generator's ``ctypes.state_address``, which numpy provides for numba), where
:func:`numpy_layout` finds it as expected: handing it over through the ``state`` property
costs a fifth as much as the drawing, at 2,000 customers.

It follows numpy's C code (``numpy/random/src/pcg64/pcg64.h``,
``numpy/random/src/distributions/distributions.c``):

- a raw 64-bit word is the DXSM output of the state before the step, and the step is
  ``state * 0xda942042e4dd58b5 + inc`` modulo 2^128 (``pcg_cm_random_r``);
- 32-bit numbers are the low half of a word, then its high half, the unused half kept in the
  generator's state (``has_uint32``, ``uinteger``) for the next draw (``pcg64_cm_next32``);
- a float32 uniform is ``(r >> 8) / 2^24`` of a 32-bit number ``r``;
- a float32 normal is numpy's float ziggurat (``random_standard_normal_f``), with numpy's
  tables (numba ships them for its own port of numpy's generators).

Where the model's generator is not a PCG64DXSM, or with ``NUMBA_DISABLE_JIT=1``, numpy draws.
"""

from __future__ import annotations

import ctypes
import math
import sys

import numpy as np
from llvmlite import ir
from numba import carray, config, njit, types
from numba.extending import intrinsic

try:  # numpy's ziggurat tables for float32 normals, as numba's port of numpy's generators has them
    from numba.np.random._constants import (
        fi_float,
        ki_float,
        wi_float,
        ziggurat_nor_inv_r_f,
        ziggurat_nor_r_f,
    )
except ImportError:  # pragma: no cover - a numba without them: numpy draws
    fi_float = None

MULTIPLIER = np.uint64(0xDA942042E4DD58B5)  # PCG's "cheap multiplier" (64 bits)
LOW = np.uint64(0xFFFFFFFF)
TO_FLOAT = np.float32(1.0 / 16777216.0)  # 2^-24


def compiled(rng: np.random.Generator) -> bool:
    """Whether :func:`fill` can draw for ``rng`` (a PCG64DXSM, with numba compiling)."""
    return (
        fi_float is not None
        and not config.DISABLE_JIT
        and isinstance(rng.bit_generator, np.random.PCG64DXSM)
    )


def draw(rng: np.random.Generator, u: np.ndarray, noise: np.ndarray, lo: int, hi: int) -> None:
    """Draw float32 uniforms into each row of ``u[:, lo:hi]``, then normals, as numpy would.

    Same numbers, same order and same end state as ``for row in u: rng.random(dtype=np.float32,
    out=row[lo:hi])`` followed by ``rng.standard_normal(dtype=np.float32, out=noise[lo:hi])``.
    Releases the GIL while it draws.
    """
    bit_generator = rng.bit_generator
    if IN_PLACE:
        fill_in_place(bit_generator.ctypes.state_address, u, noise, lo, hi)
        return
    state = bit_generator.state
    words, halves = np.empty(4, dtype=np.uint64), np.empty(2, dtype=np.uint32)
    pcg_state = state["state"]
    words[:2] = np.frombuffer(pcg_state["state"].to_bytes(16, "little"), dtype="<u8")
    words[2:] = np.frombuffer(pcg_state["inc"].to_bytes(16, "little"), dtype="<u8")
    halves[:] = state["has_uint32"], state["uinteger"]
    fill(words, halves, u, noise, lo, hi)
    pcg_state["state"] = int.from_bytes(words[:2].astype("<u8").tobytes(), "little")
    state["has_uint32"], state["uinteger"] = int(halves[0]), int(halves[1])
    bit_generator.state = state


def load() -> None:
    """Load the compiled draws (numba's cache) by drawing nothing, as part of a set-up."""
    generator = np.random.Generator(np.random.PCG64DXSM(0))
    if compiled(generator):
        draw(generator, np.zeros((1, 0), dtype=np.float32), np.zeros(0, dtype=np.float32), 0, 0)


def numpy_layout() -> bool:
    """Whether numpy keeps a PCG64DXSM's state as :func:`fill_in_place` reads it.

    numpy's ``pcg64_state`` holds a pointer to the 128-bit state and increment (each two
    64-bit words, low first, a few bytes further in the same generator object), then
    ``has_uint32`` and ``uinteger`` (32 bits each). Checked on a generator of known state,
    reading nothing outside that object; elsewhere (another layout, a 32-bit build)
    :func:`draw` goes through the generator's ``state`` property instead.
    """
    if sys.maxsize < 2**63 - 1 or sys.byteorder != "little":
        return False
    generator = np.random.Generator(np.random.PCG64DXSM(20240607))
    generator.random(dtype=np.float32)  # keeps half a word
    state = generator.bit_generator.state
    expected = state["state"]["state"], state["state"]["inc"]
    address = generator.bit_generator.ctypes.state_address
    pointer = ctypes.c_uint64.from_address(address).value
    if not 0 < abs(pointer - address) < 1024:
        return False  # numpy keeps both in the generator object: this is no pointer to them
    words = (ctypes.c_uint64 * 4).from_address(pointer)
    halves = (ctypes.c_uint32 * 2).from_address(address + 8)
    found = (words[1] << 64 | words[0], words[3] << 64 | words[2])
    return found == expected and tuple(halves) == (state["has_uint32"], state["uinteger"])


@intrinsic
def _mul_high(typingctx, a, b):
    """The high 64 bits of the 128-bit product of two uint64 (one machine multiplication)."""
    signature = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, sig, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        return builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))

    return signature, codegen


@njit(inline="always")
def _next64(high, low, inc_high, inc_low):
    """The raw word of state ``(high, low)``, and the state after the step."""
    out = high ^ (high >> np.uint64(32))
    out = out * MULTIPLIER
    out = out ^ (out >> np.uint64(48))
    out = out * (low | np.uint64(1))
    product_low = low * MULTIPLIER
    new_low = product_low + inc_low
    carry = np.uint64(new_low < product_low)
    new_high = _mul_high(low, MULTIPLIER) + high * MULTIPLIER + inc_high + carry
    return out, new_high, new_low


@njit(inline="always")
def _next32(high, low, inc_high, inc_low, has_half, half):
    """The next 32-bit number: the kept half, else a word's low half (its high one kept).

    Returns:
        The number, then the state: ``high, low, has_half, half``.
    """
    if has_half:
        return np.uint32(half), high, low, False, half
    x, high, low = _next64(high, low, inc_high, inc_low)
    return np.uint32(x & LOW), high, low, True, x >> np.uint64(32)


@njit(inline="always")
def _uniform(r):
    """The float32 uniform of a 32-bit number, as numpy's ``next_float`` makes it."""
    return np.float32(np.uint32(r) >> np.uint32(8)) * TO_FLOAT


@intrinsic
def _memory_at(typingctx, address):
    """The memory at an address (a ``void *`` for ``numba.carray``)."""
    signature = types.voidptr(types.uint64)

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))

    return signature, codegen


@njit(cache=True, nogil=True)
def fill_in_place(address: int, u: np.ndarray, noise: np.ndarray, lo: int, hi: int) -> None:
    """:func:`fill` on the state of numpy's generator at ``address`` (its ``state_address``).

    Only where :func:`numpy_layout` holds.
    """
    address = np.uint64(address)
    pointer = carray(_memory_at(address), 1, np.uint64)[0]  # to the 128-bit state
    words = carray(_memory_at(pointer), 4, np.uint64)
    halves = carray(_memory_at(address + np.uint64(8)), 2, np.uint32)
    fill(words, halves, u, noise, lo, hi)


@njit(cache=True, nogil=True)
def fill(
    words: np.ndarray, halves: np.ndarray, u: np.ndarray, noise: np.ndarray, lo: int, hi: int
) -> None:
    """Draw into ``u[:, lo:hi]`` row by row, then ``noise[lo:hi]``, from a generator's state.

    ``words`` is the 128-bit state and increment as four uint64 (each low word first);
    ``halves`` says whether half a word is kept, and holds it (two uint32), as numpy keeps
    them. Both are written back.
    """
    low, high, inc_low, inc_high = words[0], words[1], words[2], words[3]
    has_half, half = halves[0] != 0, np.uint64(halves[1])
    for row in range(u.shape[0]):
        i = lo
        if has_half and i < hi:
            u[row, i] = _uniform(half)
            has_half = False
            i += 1
        while i + 1 < hi:  # both halves of a word
            x, high, low = _next64(high, low, inc_high, inc_low)
            u[row, i] = _uniform(x & LOW)
            u[row, i + 1] = _uniform(x >> np.uint64(32))
            i += 2
        if i < hi:  # the low half; the high one is kept
            x, high, low = _next64(high, low, inc_high, inc_low)
            u[row, i] = _uniform(x & LOW)
            has_half, half = True, x >> np.uint64(32)
    for i in range(lo, hi):
        while True:  # numpy's float ziggurat; 99% of numbers come out on the first test
            r, high, low, has_half, half = _next32(high, low, inc_high, inc_low, has_half, half)
            idx = r & np.uint32(0xFF)
            rabs = (r >> np.uint32(9)) & np.uint32(0x7FFFFF)
            value = np.float32(np.float32(rabs) * wi_float[idx])
            if (r >> np.uint32(8)) & np.uint32(1):
                value = -value
            if rabs < ki_float[idx]:
                break
            if idx == 0:  # the tail beyond the base strip
                while True:
                    r1, high, low, has_half, half = _next32(
                        high, low, inc_high, inc_low, has_half, half
                    )
                    r2, high, low, has_half, half = _next32(
                        high, low, inc_high, inc_low, has_half, half
                    )
                    xx = np.float32(-ziggurat_nor_inv_r_f * np.float32(np.log1p(-_uniform(r1))))
                    yy = np.float32(-np.float32(np.log1p(-_uniform(r2))))
                    if np.float32(yy + yy) > np.float32(xx * xx):
                        value = np.float32(ziggurat_nor_r_f + xx)
                        if (rabs >> np.uint32(8)) & np.uint32(1):
                            value = -value
                        break
                break
            # The wedge of strip idx.
            r1, high, low, has_half, half = _next32(high, low, inc_high, inc_low, has_half, half)
            wedge = np.float32((fi_float[idx - 1] - fi_float[idx]) * _uniform(r1))
            if np.float32(wedge + fi_float[idx]) < math.exp(-0.5 * float(value) * float(value)):
                break
        noise[i] = value
    words[0], words[1] = low, high
    halves[0], halves[1] = np.uint32(1) if has_half else np.uint32(0), np.uint32(half)


# Whether :func:`draw` reads and writes numpy's state in place: checked once per process.
IN_PLACE = numpy_layout()
