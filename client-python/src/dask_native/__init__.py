"""dask_native: launch local dask-native clusters and drive them with the stock client.

The native binaries (dask-native-scheduler, dask-native-worker) are installed apart from
this package (`cmake --install`); `dask_native.binaries` finds them.
"""
# The one version of the project: CMake reads it for the binaries, which refuse to embed
# an environment whose dask_native differs.
__version__ = "0.1.0"

from dask_native.cluster import ProcessCluster  # noqa: E402

__all__ = ["ProcessCluster", "__version__"]
