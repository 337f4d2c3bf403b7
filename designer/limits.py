"""Size limits, one module for the library, the CLI and the service (requests above them get a clear
error naming the field and the limit; the published schema states them)."""

MAX_VECTOR_DIM = 1_000_000
MAX_MATRIX_SIDE = 4_096
MAX_RANK = 4_096
MAX_DEPTH = 16
MAX_HIDDEN = 4_096
MAX_POINTS = 100_000
MAX_POINT_NUMBERS = 5_000_000  # numbers in one request of points, all points together
MAX_TABLE_KNOTS = 4_096  # knots of a table transform
MAX_GIVEN_MATRIX_DIM = 1_024  # side of a given (dense) linear map
#: A given linear map is refused when its 2-norm condition number exceeds this: its inverse is
#: then accurate to about cond * 1e-16 <= 1e-8 relative in float64.
MAX_CONDITION = 1e8
MAX_SUM_TERMS = 8

# sparse_plus_low_rank target: every evaluation runs an iterative convex solver (one SVD of the
# matrix per iteration), so its matrices and its iteration budget are capped.
MAX_SPARSE_LOW_RANK_SIDE = 64
MAX_SPARSE_LOW_RANK_ITERATIONS = 20_000

# Inverse design (designer.design): sizes of a request.
MAX_DESIGN_VECTOR_DIM = 1_000_000
MAX_DESIGN_MATRIX_SIDE = 4_096
MAX_DESIGN_POINTS = 4_096
MAX_DESIGN_DEPTH = 8
