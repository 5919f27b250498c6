"""Vigil: remote patient monitoring from wearables.

This thin package holds what every process shares: the command line (:mod:`vigil.cli`),
typed settings (:mod:`vigil.settings`) and the root of the exception hierarchy
(:mod:`vigil.exceptions`). The data flows through the sibling packages:
``ingest`` (devices in) -> ``stream`` (per-patient detection) -> ``alerts`` (policy,
lifecycle, storage) -> ``api`` (people and apps).
"""

from vigil.exceptions import VigilError

__all__ = ["VigilError", "__version__"]

__version__ = "0.1.0"
