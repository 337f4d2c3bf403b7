"""Size limits shared by the CLI and the service (requests above them get a clear error)."""

MAX_VECTOR_DIM = 65_536
MAX_MATRIX_SIDE = 1_024
MAX_RANK = 256
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
