"""The defaults the command line and the library share (a module with no imports, so the
command line can name them without loading numpy, APSW or USearch)."""

DEFAULT_SOURCE = "./data/agentic-qe.db"
DEFAULT_TARGET = "./data/patterns.vecdb"
DEFAULT_KEEP_GENERATIONS = 3
DEFAULT_KEEP_BACKUPS = 3
DEFAULT_CHECKPOINT_SECONDS = 20.0
VEC0_MAX_K = 4096  # sqlite-vec's limit on k in one vec0 query
VEC0_MAX_DIMENSION = 8192  # the most dimensions a sqlite-vec vec0 column takes
MAX_INTERVAL = 86400.0  # seconds between sync --follow passes, at most (a day)
