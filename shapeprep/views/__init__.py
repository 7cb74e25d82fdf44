"""Conditioning renders: multi-view images of the textured source, with NeRF/TRELLIS-style camera files."""
