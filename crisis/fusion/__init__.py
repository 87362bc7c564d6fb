"""Spatial fusion: vectorised joins of people, places and incidents (geopandas/shapely)."""
