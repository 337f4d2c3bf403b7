"""Size limits shared by the CLI and the service (requests above them get a clear error)."""

MAX_VECTOR_DIM = 65_536
MAX_MATRIX_SIDE = 1_024
MAX_RANK = 256
MAX_DEPTH = 16
MAX_HIDDEN = 4_096
MAX_POINTS = 100_000
MAX_POINT_NUMBERS = 5_000_000  # numbers in one request of points, all points together

# sparse_plus_low_rank target: every evaluation runs an iterative convex solver (one SVD of the
# matrix per iteration), so its matrices and its iteration budget are capped.
MAX_SPARSE_LOW_RANK_SIDE = 64
MAX_SPARSE_LOW_RANK_ITERATIONS = 20_000
