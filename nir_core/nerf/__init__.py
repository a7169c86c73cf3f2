"""Radiance fields: a small NeRF (:mod:`.model`), camera rays (:mod:`.rays`), volume rendering (:mod:`.render`) and
training on posed images (:mod:`.train`); the images come from :mod:`nir_core.data.views`."""
