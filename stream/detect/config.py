"""Per-patient clinician overrides: plain, versioned input to detection.

A :class:`PatientConfig` is what the care team sets for one patient (it travels on the
compacted ``vigil.patient-config`` topic, keyed by patient id). Detection reads it; it never
writes it. Every field has a safe default, so an unknown patient is monitored from the first
sample with population rules (oxygen = air, consciousness = alert, SpO2 scale 1).

Examples
--------
>>> cfg = PatientConfig.from_dict({"spo2_scale": 2, "thresholds": {"hr": [35, 125]}})
>>> cfg.spo2_scale, cfg.thresholds["hr"]
(2, (35.0, 125.0))
>>> cfg.snoozed("tachycardia", ts=0.0)
False
>>> PatientConfig(snooze_until=100.0).snoozed("fever", ts=50.0)
True
>>> PatientConfig.from_dict(cfg.to_dict()) == cfg
True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec

logger = logging.getLogger(__name__)

__all__ = ["CONSCIOUSNESS_LEVELS", "PatientConfig"]

CONSCIOUSNESS_LEVELS = ("A", "C", "V", "P", "U")
SCHEMA_VERSION = 1


class PatientConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Clinician settings for one patient.

    Parameters
    ----------
    spo2_scale
        NEWS2 SpO2 scale: 1, or 2 for a prescribed hypercapnic target of 88-92 %.
    on_oxygen
        Patient is on supplemental oxygen (NEWS2 +2, and scale-2 high-SpO2 scoring).
    consciousness
        Latest ACVPU assessment (``"A"`` alert; anything else scores 3).
    thresholds
        Per vital ``(low, high)`` alerting limits (``None`` = keep the default). They replace
        the population limits for that vital: values inside are acceptable for this patient,
        values outside alert once sustained, whatever the personal baseline says.
    snooze_until
        Event time (epoch seconds) until which alerts are held back (critical ones still go).
    snooze_kinds
        Kinds the snooze applies to; empty means every kind.
    alert_channels
        Custom channels whose anomalies should raise alerts (by default custom channels are
        only scored).
    """

    spo2_scale: int = 1
    on_oxygen: bool = False
    consciousness: str = "A"
    thresholds: dict[str, tuple[float | None, float | None]] = msgspec.field(default_factory=dict)
    snooze_until: float | None = None
    snooze_kinds: tuple[str, ...] = ()
    alert_channels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.spo2_scale not in (1, 2):
            raise ValueError("spo2_scale must be 1 or 2")
        if self.consciousness.upper() not in CONSCIOUSNESS_LEVELS:
            raise ValueError("consciousness must be one of A, C, V, P, U")

    def snoozed(self, kind: str, ts: float) -> bool:
        """Return whether alerts of ``kind`` are snoozed at event time ``ts``."""
        if self.snooze_until is None or not ts < self.snooze_until:  # (NaN: not snoozed)
            return False
        return not self.snooze_kinds or kind in self.snooze_kinds

    def limit(self, vital: str) -> tuple[float | None, float | None]:
        """Return the clinician's ``(low, high)`` limits for ``vital`` (``None`` = default)."""
        return self.thresholds.get(vital, (None, None))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able form (with a schema version ``v``)."""
        d: dict[str, Any] = msgspec.to_builtins(self)
        d["v"] = SCHEMA_VERSION
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatientConfig:
        """Build from a JSON-like mapping (unknown keys are ignored).

        Raises
        ------
        msgspec.ValidationError
            If a field has the wrong type or value.
        """
        fields = {k: v for k, v in data.items() if k in cls.__struct_fields__}
        return msgspec.convert(fields, cls, strict=False)
