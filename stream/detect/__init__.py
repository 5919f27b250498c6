"""The pure detection core: per-patient personal baselines, NEWS2, trends and data quality.

No I/O happens here (enforced by ``ruff.toml`` banned-api): the Faust worker, ``vigil replay``
and the embedded demo feed samples in and take findings out through :mod:`stream.pipeline`.

- :mod:`~stream.detect.baseline` — :class:`ChannelModel`, the univariate personal model
  (generic: vitals and custom channels alike);
- :mod:`~stream.detect.robust` — the per-context robust level and scale under it;
- :mod:`~stream.detect.daily` — its time-of-day profile;
- :mod:`~stream.detect.channel_state` — its saved form (compact; older forms restore);
- :mod:`~stream.detect.contexts` — activity contexts and hour-of-day bins;
- :mod:`~stream.detect.activity` — activity context and artifact gating from motion/quality;
- :mod:`~stream.detect.plausibility` — artifact gating from the signal itself (implausible jumps);
- :mod:`~stream.detect.rules` — clinical conditions on one vital;
- :mod:`~stream.detect.news2` — NEWS2 sub-scores, aggregate and response band;
- :mod:`~stream.detect.technical` — gaps, rejected runs, poor signal, flatline;
- :mod:`~stream.detect.monitor` — :class:`PatientMonitor`, one patient's detector;
- :mod:`~stream.detect.sources` — a patient's devices and their clocks: spot samples, and
  whether the continuous stream is live by each device's own clock;
- :mod:`~stream.detect.deterioration` — the multi-vital warning of decline from personal normal;
- :mod:`~stream.detect.vitals` — the vitals by name: model priors, labels, units, freshness,
  step bounds;
- :mod:`~stream.detect.config` — :class:`PatientConfig`, clinician overrides;
- :mod:`~stream.detect.findings` — :class:`Finding`, what the detector tells the alert policy.
"""

from stream.detect.activity import Activity
from stream.detect.baseline import ChannelModel
from stream.detect.config import PatientConfig
from stream.detect.findings import Finding
from stream.detect.monitor import PatientMonitor
from stream.detect.news2 import News2, news2
from stream.detect.rules import RULES, VitalRule
from stream.detect.technical import DataQuality

__all__ = [
    "RULES",
    "Activity",
    "ChannelModel",
    "DataQuality",
    "Finding",
    "News2",
    "PatientConfig",
    "PatientMonitor",
    "VitalRule",
    "news2",
]
