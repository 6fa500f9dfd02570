"""Importing this module registers every built-in loss spec (one module per family)."""

from . import _classification, _regression, _torch  # noqa: F401
