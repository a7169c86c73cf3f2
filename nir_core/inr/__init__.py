"""Coordinate networks: the layers they share (:mod:`.layers`) and images stored as networks (:mod:`.image`, COIN-like).
The radiance field is :mod:`nir_core.nerf`."""
