"""Settings of ``vigil worker`` and ``vigil produce``: topics, state cadence and Faust tuning.

:class:`WorkerSettings` extends the shared :class:`vigil.settings.Settings`; every field reads
``VIGIL_<FIELD>`` from the environment. ``VIGIL_TOPIC_PREFIX`` is the same variable the ingest
side reads, so one prefix isolates a whole pipeline (tests give every run its own).

Examples
--------
>>> s = WorkerSettings(_env_file=None, topic_prefix="t1.")
>>> s.topics.vitals, s.group_id
('t1.vigil.vitals', 't1.vigil-worker')
>>> s.rollup_topic, s.news2_topic
('t1.vigil.vitals.1m', 't1.vigil.news2')
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field

from ingest.topics import TopicNames
from vigil.settings import Settings

__all__ = ["WorkerSettings", "get_worker_settings"]


class WorkerSettings(Settings):
    """Settings for the Faust stream worker and the file producer.

    The throughput defaults come from ``bench/stream.py`` on a 2-core machine: bigger take
    batches stop paying off past ~1,000 records, and a 5 s commit interval keeps offset
    commits (and the state checkpoints they wait for) off the hot path.
    """

    #: Faust app id; with the prefix, the consumer group and the changelog topic names.
    worker_app_id: str = "vigil-worker"
    #: Root of the workers' local state (RocksDB); each process locks its own slot below it.
    worker_state_dir: Path | None = None

    # State checkpoints (see stream.checkpoint): whichever comes first, per partition.
    #: A partition is checkpointed once one of its patients has this many unsaved samples.
    checkpoint_every_samples: int = Field(default=2_000, ge=1)
    #: ... or once its oldest unsaved sample is this many (wall-clock) seconds old.
    checkpoint_every_s: float = Field(default=5.0, gt=0)

    # Faust tuning.
    #: Records handed to the agent at once (``stream.take``), and the wait for a full batch.
    take_max_records: int = Field(default=1_000, ge=1)
    take_within_s: float = Field(default=0.05, gt=0)
    stream_buffer_maxsize: int = Field(default=16_384, ge=1)
    #: Seconds between offset commits of whatever is checkpointed.
    commit_interval_s: float = Field(default=2.0, gt=0)
    #: Seconds a partition may handle nothing while the consumer's fetch position is past its
    #: next offset before the worker seeks it back (records Faust dropped; stream.app).
    idle_check_s: float = Field(default=10.0, gt=0)
    producer_linger_ms: int = Field(default=20, ge=0)
    producer_max_batch_size: int = Field(default=512 * 1024, ge=1024)
    #: Seconds without a heartbeat before the group gives a worker's partitions to the others
    #: (a SIGKILLed worker's partitions wait this long; the broker allows 6-300 s).
    session_timeout_s: float = Field(default=10.0, ge=6.0)
    #: Faust's web server port; 0 keeps it off so several workers share a host freely.
    worker_web_port: int = Field(default=0, ge=0)
    #: Emit per-minute vitals rollups and NEWS2 records.
    worker_rollups: bool = True

    # vigil produce
    #: Samples per record at most (a record holds one patient's consecutive samples).
    produce_max_samples: int = Field(default=500, ge=1)

    @property
    def topics(self) -> TopicNames:
        """The ingest topic names under :attr:`topic_prefix`."""
        return TopicNames(self.topic_prefix)

    @property
    def group_id(self) -> str:
        """The Kafka consumer group (and Faust app id) of the workers."""
        return f"{self.topic_prefix}{self.worker_app_id}"

    @property
    def rollup_topic(self) -> str:
        """Per-minute vitals rollups (:mod:`stream.rollup`)."""
        return self.topics.vitals_1m

    @property
    def news2_topic(self) -> str:
        """Per-minute NEWS2 records (:mod:`stream.rollup`)."""
        return self.topics.news2

    @property
    def state_root(self) -> Path:
        """Where worker state slots live (``worker_state_dir`` or ``data_dir/worker``)."""
        return self.worker_state_dir or self.data_dir / "worker"


@lru_cache(maxsize=1)
def get_worker_settings() -> WorkerSettings:
    """Return the worker process settings, read once from the environment."""
    return WorkerSettings()
