"""shapeprep: raw 3D assets -> watertight meshes -> training-ready HDF5 point shards.

The package holds all logic as small modules of functions on numpy arrays;
``scripts/`` only adapts Snakemake's ``input/params/output`` to them.
Heavy dependencies (trimesh, igl, h5py, torch) are imported inside the
modules that need them, so ``import shapeprep`` stays cheap for the Snakefile.
"""

__version__ = "0.1.0"

#: Version of the HDF5 shard layout documented in README.md ("Data format").
#: 3 added the per-row sigma labels and the describing attributes; readers accept 2 and 3.
SHARD_SCHEMA_VERSION = 3
READABLE_SHARD_SCHEMAS = (2, 3)

#: Sign convention of every SDF value shapeprep writes.
SDF_SIGN_CONVENTION = "negative inside, positive outside"
