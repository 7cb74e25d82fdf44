"""Volumes of watertight meshes: sparse signed distance grids for sparse-voxel models."""
