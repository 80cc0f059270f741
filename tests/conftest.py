"""Shared test set-up."""

# latc first: its import points numba's on-disk cache (NUMBA_CACHE_DIR) at the user cache folder before
# any test module imports scanpy / decoupler / squidpy, whose numba functions pick the cache place
# when they are decorated (otherwise *.nbi/*.nbc land in the installed packages' folders).
import latc  # noqa: F401
