"""Geometry on numpy arrays: loading, normalising, topology, surfaces, distances, SDF, curation and validation checks."""
