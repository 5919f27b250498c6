"""Per-patient detection: personal baselines, NEWS2, trends and data quality.

:mod:`stream.detect` is the pure core (no I/O imports). The Faust worker, ``vigil replay``
and the embedded demo all run exactly that code.
"""

__all__: list[str] = []
