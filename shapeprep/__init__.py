"""shapeprep: raw 3D assets -> watertight meshes -> training-ready HDF5 point shards.

The package holds all logic as small modules of functions on numpy arrays;
``scripts/`` only adapts Snakemake's ``input/params/output`` to them.
Heavy dependencies (trimesh, igl, h5py, torch) are imported inside the
modules that need them, so ``import shapeprep`` stays cheap for the Snakefile.
"""

__version__ = "0.1.0"

#: Version of the HDF5 shard layout documented in README.md ("Data format").
SHARD_SCHEMA_VERSION = 2

#: Sign convention of every SDF value shapeprep writes.
SDF_SIGN_CONVENTION = "negative inside, positive outside"
