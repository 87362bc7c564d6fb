"""Pieces of layout shared by several pages (no callbacks here: pages own those)."""
