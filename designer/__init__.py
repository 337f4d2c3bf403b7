"""designer: induced implicit bias of parameterizations and its inverse design.

Implements the geometric bias of arXiv 2601.06597 (the log-determinant of the Gram matrix of the
symmetry generators on the balanced slice) together with weight-decay and label-noise
mechanisms, computed by autodiff from a declared group action. Importing ``designer`` turns on
JAX's float64 mode (geometry runs in float64; simulations choose float32 explicitly).
"""

from ._jax import enable_compilation_cache, enable_x64, unroll_threefry_on_cpu, use_cpu_cores

enable_x64()
unroll_threefry_on_cpu()

from .bias import evaluate_points, induced_bias  # noqa: E402
from .errors import DesignerError, DesignerInputError, NumericalFailure  # noqa: E402
from .families import FAMILIES, Family, build_family  # noqa: E402
from .geometry import (  # noqa: E402
    balance, block_generators, gram, log_det_gram, minimize_over_orbit, moment_map,
)
from .mechanisms import MECHANISMS, build_mechanism  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "FAMILIES", "MECHANISMS", "DesignerError", "DesignerInputError", "Family", "NumericalFailure",
    "balance", "block_generators", "build_family", "build_mechanism", "enable_compilation_cache",
    "enable_x64", "evaluate_points", "gram", "induced_bias", "log_det_gram", "minimize_over_orbit",
    "moment_map", "use_cpu_cores", "__version__",
]
