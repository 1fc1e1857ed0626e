"""The one decorator policy for Numba kernels.

``cache=True`` so a warm run loads machine code instead of compiling (the CLI must start fast);
``nogil=True`` so kernels do not serialise threads that call them; no ``parallel=True``: kernels
draw random numbers from the caller's ``numpy.random.Generator`` and must stay deterministic.
Decorating compiles nothing: compilation happens at a kernel's first call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

kernel = njit(cache=True, nogil=True)

#: Small helpers called from kernels inside hot loops: inlined into each caller at Numba's IR
#: level. A call between compiled functions pays an atomic reference-count update per array
#: argument, which measured as a large share of an event loop's time; inlined, it costs nothing.
#: Cached as part of the kernels that call them.
inline = njit(inline="always", nogil=True)


@intrinsic
def _prefetch(typingctx: object, address: types.Type) -> object:
    """LLVM's ``prefetch`` of the byte at ``address`` (read, kept in every cache level)."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        i32 = ir.IntType(32)
        byte = ir.IntType(8).as_pointer()
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), (byte, i32, i32, i32))
        )
        flags = (ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1))
        builder.call(fn, (builder.inttoptr(args[0], byte), *flags))
        return context.get_dummy_value()

    return types.void(types.uintp), codegen


@inline
def prefetch_row(a: np.ndarray, i: int) -> None:
    """Ask the CPU to start loading row ``i`` of the 2-D array ``a``, which a loop will read a
    few dozen iterations later. A loop that reads rows at random from an array larger than the
    cache otherwise waits for each one in turn: its body is too long for the CPU to run ahead
    to the next rows by itself. A hint: it changes no result."""
    _prefetch(a.ctypes.data + a.strides[0] * i)  # type: ignore[call-arg]  # Numba passes typingctx
