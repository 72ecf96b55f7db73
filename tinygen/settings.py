"""tinygen's settings: which kernels, which conv algorithm, how many threads. One home, one style.

Each setting has a getter, a setter and a `use_*` block that sets it and puts the old value
back; until it is set, its value comes from an environment variable (read by
`from_environment`, the one place that reads them) or, for the threads, from numba:

    setting          get                 set                        block
    kernels          kernel_mode()       set_kernel_mode(mode)      use_kernels(mode)
                     TINYGEN_KERNELS=reference|fast (default: fast); the process's
    conv algorithm   conv_algorithm()    set_conv_algorithm(name)   use_conv_algorithm(name)
                     TINYGEN_CONV_ALGO=<name>|auto (default: auto, the rules); the thread's
    threads          get_num_threads()   set_num_threads(n)         use_num_threads(n)
                     numba's count (NUMBA_NUM_THREADS, else the cores); the process's

The kernel setting picks between the readable reference kernels (`*_numpy.py`) and the fast
ones (`*_numba.py` on cpu, `*_cuda.py` on cuda; tinygen.kernels.implementation follows it).
It is a setting of the process, as torch.backends' flags (cudnn.enabled, mkldnn.enabled):
every thread's ops follow it, and use_kernels in one thread switches them all for the block.
TINYGEN_KERNELS is read once, at the first question: every op asks, and reading the
environment (0.7 us) costs more than the rest of the dispatch (0.3 us).

A forced conv algorithm makes conv_numba run that algorithm wherever it applies (elsewhere
conv_algorithms_numba.choose_algorithm's rules stand). It is a context variable, so it is
the forcing thread's alone: a new thread starts from TINYGEN_CONV_ALGO, not from the
setting of the thread that started it. The variable is read at each question (one per
convolution) while the thread has set nothing.

The thread count is how many of tinygen's own worker threads share a CPU kernel
(kernels/threads.py), as torch.set_num_threads; by default one per core, numba's count.

The three values below (_kernel_mode, _conv_algorithm, _num_threads) are this module's
state, and tinygen's settings have no other.
"""
import contextlib
import contextvars
import os

KERNEL_MODES = ("reference", "fast")

# the names of conv_algorithms_numba.ALGORITHMS (one function per name and op there; a test
# checks that the two agree), declared here so that the setting checks a name without
# importing numba
CONV_ALGORITHM_NAMES = ("gemm_1x1", "im2col", "phases", "winograd", "sample_last",
                        "winograd_s2", "flip", "col2im", "col2im_planes", "per_sample")

_kernel_mode = [None]       # set_kernel_mode's value; None: TINYGEN_KERNELS's, at the next question
_conv_algorithm = contextvars.ContextVar("tinygen_conv_algorithm", default=None)
#                             this thread's forced name ("auto": none); None: TINYGEN_CONV_ALGO's
_num_threads = [None]       # set_num_threads's value; None: numba's count, at the next question


def from_environment(variable, choices, default):
    """The value of the environment variable (`default` when unset or empty), which must be
    one of `choices`: every setting reads its variable here."""
    value = os.environ.get(variable) or default
    if value not in choices:
        raise ValueError(f"{variable}={value!r}: expected one of {choices}")
    return value


# ---- kernels: reference or fast ------------------------------------------------------------

def kernel_mode():
    """'reference' or 'fast' (the default): which kernel implementations the ops call."""
    if _kernel_mode[0] is None:
        _kernel_mode[0] = from_environment("TINYGEN_KERNELS", KERNEL_MODES, "fast")
    return _kernel_mode[0]


def set_kernel_mode(mode):
    """Every thread's ops call the 'reference' or the 'fast' kernels from now on."""
    if mode not in KERNEL_MODES:
        raise ValueError(f"kernel mode {mode!r}: expected one of {KERNEL_MODES}")
    _kernel_mode[0] = mode


@contextlib.contextmanager
def use_kernels(mode):
    """Run the block on the 'reference' or the 'fast' kernels.

        with tg.settings.use_kernels("reference"):
            loss = model(x)                      # conv_numpy, pool_numpy, ...
    """
    old = _kernel_mode[0]
    set_kernel_mode(mode)
    try:
        yield
    finally:
        _kernel_mode[0] = old


# ---- conv algorithm: forced, or chosen -----------------------------------------------------

def conv_algorithm():
    """The conv algorithm this thread forces now (set_conv_algorithm's, else
    TINYGEN_CONV_ALGO's), or None: choose_algorithm's rules decide."""
    name = _conv_algorithm.get()
    if name is None:
        name = from_environment("TINYGEN_CONV_ALGO", CONV_ALGORITHM_NAMES + ("auto",), "auto")
    return None if name == "auto" else name


def set_conv_algorithm(name):
    """Run conv_numba's algorithm `name` wherever it applies, in this thread (and the contexts
    it starts) from now on; "auto": let choose_algorithm's rules decide."""
    _check_conv_algorithm(name)
    _conv_algorithm.set(name)


@contextlib.contextmanager
def use_conv_algorithm(name):
    """Run the block with conv_numba's algorithm `name` wherever it applies ("auto": choose).

        with tg.settings.use_conv_algorithm("im2col"):
            y = F.conv2d(x, w, padding=1)         # conv2d_im2col, whatever the shapes
    """
    _check_conv_algorithm(name)
    token = _conv_algorithm.set(name)
    try:
        yield
    finally:
        _conv_algorithm.reset(token)


def _check_conv_algorithm(name):
    if name not in CONV_ALGORITHM_NAMES + ("auto",):
        raise ValueError(f"unknown conv algorithm {name!r}: expected one of "
                         f"{CONV_ALGORITHM_NAMES} or 'auto'")


# ---- threads ---------------------------------------------------------------------------------

def get_num_threads():
    """Threads that tinygen's kernels use (set_num_threads's value, or numba's count: all
    cores unless NUMBA_NUM_THREADS says otherwise)."""
    if _num_threads[0] is None:
        import numba
        _num_threads[0] = max(1, numba.config.NUMBA_NUM_THREADS)
    return _num_threads[0]


def set_num_threads(n):
    """Run tinygen's kernels on n threads (its own worker threads: no kernel uses numba's
    parallel loops). BLAS stays on one thread inside the kernels."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    _num_threads[0] = n


@contextlib.contextmanager
def use_num_threads(n):
    """Run the block's kernels on n threads; afterwards the count from before, whatever the
    block set (a script's main() that calls set_num_threads, run by a test)."""
    old = _num_threads[0]
    set_num_threads(n)
    try:
        yield
    finally:
        _num_threads[0] = old
