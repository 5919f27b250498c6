"""``vigil sink``: store alerts, lifecycle events and rollups; deliver webhooks.

One process, two independent consumer groups (see :mod:`alerts.sink` for why this is not a
Faust agent):

- the *store* role (group ``<prefix>vigil-sink``) writes ``vigil.alerts``,
  ``vigil.alert-events``, ``vigil.vitals.1m`` and ``vigil.news2`` to the configured store
  (``VIGIL_STORE=influx|sqlite``), committing after each accepted batch;
- the *webhooks* role (group ``<prefix>vigil-notifier``) sends ``alert.new`` and
  ``alert.escalated`` notifications to the targets in ``VIGIL_WEBHOOKS``.

SIGTERM or Ctrl-C finishes the batch in hand and exits; SIGKILL loses nothing either (no
offset is committed before its batch is stored).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import typer

logger = logging.getLogger(__name__)

__all__ = ["register", "sink"]


ROLES = ("all", "store", "webhooks")


def sink(
    role: str = typer.Option("all", "--role", help="store, webhooks, or all (both)."),
    create_topics: bool = typer.Option(
        True, "--create-topics/--no-create-topics", help="Create missing topics first."
    ),
) -> None:
    """Write alerts, lifecycle events and vitals rollups to the store; send webhooks."""
    from alerts.ledger import SqliteLedger
    from alerts.notifier import NotifierLoop, kafka_dead_letters, open_notifier_consumer
    from alerts.settings import get_alerts_settings
    from alerts.sink import Sink, ensure_store, open_consumer, open_producer
    from alerts.store import open_store
    from alerts.topics import SinkTopics
    from alerts.webhooks import HttpxTransport, Notifier, StaticTargets
    from ingest.topics import create_topics as make_topics

    if role not in ROLES:
        raise typer.BadParameter(f"one of {', '.join(ROLES)}", param_hint="--role")
    settings = get_alerts_settings()
    topics = SinkTopics(settings.topic_prefix)
    want_store = role in ("all", "store")
    want_hooks = role in ("all", "webhooks") and bool(settings.webhooks)
    if role == "webhooks" and not settings.webhooks:
        raise typer.BadParameter("no webhook targets: set VIGIL_WEBHOOKS", param_hint="--role")
    if create_topics:
        make_topics(settings.kafka_bootstrap, topics.specs(settings.vitals_partitions))

    store = open_store(settings)
    producer = open_producer(settings.kafka_bootstrap)
    loops: list[Any] = []
    closers: list[Any] = [store.close]
    if want_store:
        ensure_store(store)
        consumer = open_consumer(
            settings.kafka_bootstrap,
            f"{settings.topic_prefix}{settings.sink_group}",
            topics.consumed(),
            settings.sink_batch_size,
        )
        closers.insert(0, lambda: consumer.close(autocommit=False))
        loops.append(
            Sink(
                store,
                consumer,
                producer,
                topics,
                batch_size=settings.sink_batch_size,
                linger_s=settings.sink_linger_ms / 1000,
                backoff_max_s=settings.sink_backoff_max_s,
            )
        )
    if want_hooks:
        transport = HttpxTransport()
        ledger = SqliteLedger(settings.webhook_ledger_path)
        hook_consumer = open_notifier_consumer(
            settings.kafka_bootstrap, f"{settings.topic_prefix}{settings.notifier_group}", topics
        )
        closers[:0] = [lambda: hook_consumer.close(autocommit=False), transport.close, ledger.close]
        notifier = Notifier(
            StaticTargets(settings.webhooks),
            transport,
            ledger,
            kafka_dead_letters(producer, topics.webhooks_dlq),
            max_attempts=settings.webhook_max_attempts,
            backoff_s=settings.webhook_backoff_s,
            backoff_max_s=settings.webhook_backoff_max_s,
            timeout_s=settings.webhook_timeout_s,
        )
        loops.append(NotifierLoop(notifier, store, hook_consumer, topics))
    if not loops:
        raise typer.BadParameter("nothing to run", param_hint="--role")

    def stop(signum: int, _frame: object) -> None:
        logger.info("signal %d: finishing the current batch", signum)
        for loop in loops:
            loop.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threads = [threading.Thread(target=loop.run, name=type(loop).__name__) for loop in loops[1:]]
    for thread in threads:
        thread.start()
    logger.info("sink running (%s) on %s", role, ", ".join(topics.consumed()))
    try:
        loops[0].run()
    finally:
        for loop in loops:
            loop.stop()
        for thread in threads:
            thread.join(timeout=60)
        producer.close(timeout=10)
        for close in closers:
            close()
    for loop in loops:
        if isinstance(loop, Sink):
            typer.echo(f"sink stopped: {loop.stats}")


def register(app: typer.Typer) -> None:
    """Add ``sink`` to the ``vigil`` command."""
    app.command("sink")(sink)
