"""Catalog entries of this family (being written)."""
