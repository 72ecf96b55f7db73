"""tinygen.linalg: torch.linalg's names (`tg.linalg.inv(A)`), gathered from their homes:
the norms in tinygen/ops/norms.py, the matrix functions and products in tinygen/ops/linalg.py.
"""
from tinygen.ops.linalg import (  # noqa: F401
    cholesky, cross, det, diagonal, eigvalsh, inv, matmul, slogdet, solve, svdvals)
from tinygen.ops.norms import linalg_norm as norm  # noqa: F401
from tinygen.ops.norms import matrix_norm, vector_norm  # noqa: F401
