"""Approaches 1 and 2 (owned by the isoFLOP engineer; the approach-3 fitter imports from here, do not rewrite).

Work in progress.
"""
from __future__ import annotations
