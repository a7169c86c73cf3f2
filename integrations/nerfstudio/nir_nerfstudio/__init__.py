"""nerfstudio method nir-kmeans-nerf (see docs/nerf.md)."""
