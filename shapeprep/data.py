"""The readers training code imports: point shards, sparse SDF shards and render shards.

``ShardDataset`` (:mod:`shapeprep.samples.data`) reads the point shards;
``SparseSDFDataset`` and ``sparse_collate`` (:mod:`shapeprep.volumes.data`)
the sparse SDF volumes; ``ViewDataset`` (:mod:`shapeprep.views.data`) the
conditioning renders.
"""

from .samples.data import ShardDataset
from .views.data import ViewDataset
from .volumes.data import SparseSDFDataset, sparse_collate

__all__ = ["ShardDataset", "SparseSDFDataset", "ViewDataset", "sparse_collate"]
