"""The PTX of every numba.cuda kernel of tinygen, checked for slow arithmetic. No GPU needed.

    python benchmarks/ptx_check.py [--strict]        (from the repository root)

Compiles each kernel of tinygen/kernels/*_cuda.py (their tables, DEVICE_KERNELS) with
numba.cuda.compile_ptx for sm_80 and sm_90, for float32 and float64 arrays, with the argument
types its launch passes (Python ints are int64, Python floats float64), and counts per kernel:
  f64     instructions on float64 values in a float32 kernel (.f64 in the PTX): a float32
          kernel computing in float64 runs at 1/64 speed on consumer GPUs
  div64   64-bit integer divisions and remainders (div/rem .s64/.u64): ~10x a 32-bit one
          (the kernels' index math divides in 32 bits: kernels/common_cuda.py)
Prints one row per kernel and dtype; --strict exits 1 when a float32 kernel has f64 or any
kernel div64. Needs numba-cuda's NVVM and NVRTC (the gpu extra's CUDA 12 wheels, or
LD_LIBRARY_PATH to them) and the simulator off (NUMBA_ENABLE_CUDASIM unset). Without the
gpu extra, the two wheels in a folder of their own do (no GPU, no driver needed):

    pip install --no-deps --target /tmp/nv "nvidia-cuda-nvrtc-cu12==12.9.*" "nvidia-cuda-nvcc-cu12==12.9.*"
    LD_LIBRARY_PATH=/tmp/nv/nvidia/cuda_nvrtc/lib \
    NUMBA_CUDA_NVVM=/tmp/nv/nvidia/cuda_nvcc/nvvm/lib64/libnvvm.so python benchmarks/ptx_check.py
"""
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.getcwd())

F64 = re.compile(r"\.f64\b|%fd")
DIV64 = re.compile(r"\b(div|rem)(\.[a-z]+)?\.[su]64\b")
ARCHES = ((8, 0), (9, 0))


def kernel_table(dtype):
    """"family.name" -> (kernel, sample arguments as its launch passes them), from each
    *_cuda.py's DEVICE_KERNELS (a kernel compiled per dtype is a function of the dtype there)."""
    from tinygen.kernels import conv_cuda, fused_cuda, matmul_cuda, pool_cuda, scatter_cuda
    from tinygen.kernels.common_cuda import example_arguments

    families = {"conv": conv_cuda, "pool": pool_cuda, "fused": fused_cuda, "matmul": matmul_cuda,
                "scatter": scatter_cuda}
    return {f"{family}.{name}": (kernel if hasattr(kernel, "py_func") else kernel(np.dtype(dtype).type),
                                 example_arguments(kinds, dtype))
            for family, module in families.items()
            for name, (kernel, kinds) in module.DEVICE_KERNELS.items()}


def count(ptx):
    """(instructions touching float64, 64-bit integer divisions and remainders)."""
    lines = [line for line in ptx.splitlines() if not line.strip().startswith(".reg")]
    return sum(bool(F64.search(line)) for line in lines), sum(bool(DIV64.search(line)) for line in lines)


def main(strict=False):
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        sys.exit("ptx_check: unset NUMBA_ENABLE_CUDASIM (the simulator compiles no PTX)")
    import numba
    from numba import cuda
    bad = []
    print(f"{'kernel':<28} {'dtype':<8} " + " ".join(f"sm_{a}{b} f64/div64" for a, b in ARCHES))
    for dtype in (np.float32, np.float64):
        for name, (kernel, args) in kernel_table(dtype).items():
            sig = tuple(numba.typeof(a) for a in args)
            cells = []
            for cc in ARCHES:
                ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=cc)
                f64, div64 = count(ptx)
                cells.append(f"{f64:>9}/{div64:<5}")
                if (dtype == np.float32 and f64) or div64:
                    bad.append((name, np.dtype(dtype).name, cc, f64, div64))
            print(f"{name:<28} {np.dtype(dtype).name:<8} " + " ".join(cells), flush=True)
    f64 = sum(1 for case in bad if case[3] and case[1] == "float32")
    print(f"float32 kernels computing in float64: {f64} cases; kernels with 64-bit integer "
          f"division: {sum(1 for case in bad if case[4])} cases (kernel x dtype x arch)")
    return 1 if strict and bad else 0


if __name__ == "__main__":
    sys.exit(main(strict="--strict" in sys.argv))
