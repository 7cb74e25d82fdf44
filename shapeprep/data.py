"""The readers training code imports: point shards and sparse SDF shards.

``ShardDataset`` (:mod:`shapeprep.samples.data`) reads the point shards;
``SparseSDFDataset`` and ``sparse_collate`` (:mod:`shapeprep.volumes.data`)
the sparse SDF volumes.
"""

from .samples.data import ShardDataset
from .volumes.data import SparseSDFDataset, sparse_collate

__all__ = ["ShardDataset", "SparseSDFDataset", "sparse_collate"]
