"""Size limits shared by the CLI and the service (requests above them get a clear error)."""

MAX_VECTOR_DIM = 65_536
MAX_MATRIX_SIDE = 1_024
MAX_RANK = 256
MAX_DEPTH = 16
MAX_HIDDEN = 4_096
MAX_POINTS = 100_000
MAX_POINT_NUMBERS = 5_000_000  # numbers in one request of points, all points together
