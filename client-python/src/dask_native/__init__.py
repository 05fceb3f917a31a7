"""dask_native: launch local dask-native clusters and drive them with the stock client."""
from dask_native.cluster import ProcessCluster

__all__ = ["ProcessCluster"]
