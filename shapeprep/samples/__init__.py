"""Training data from watertight meshes: surface, salient and SDF samples, HDF5 shards, the torch reader and peer exports."""
