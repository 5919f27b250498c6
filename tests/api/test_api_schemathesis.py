"""Schemathesis against the app's own OpenAPI document: no 5xx, no response off the schema.

In-process (ASGI), as an admin (who reaches every operation's handler), over every operation
but the endless SSE stream (``test_api_live.py`` covers it), with schema-valid inputs and with
deliberately invalid ones. Each operation gets a bounded number of generated examples so the
run stays around a minute. The checks are schemathesis's defaults for ``call_and_validate``:
no server error; status code, content type, headers and body all as documented; invalid
input rejected with a 4xx. One default is left out, ``positive_data_acceptance`` (no 400 for
schema-valid input): some rules cannot be written in JSON Schema (``from`` before ``to``, a
cursor this server issued, a team that exists), and a 400 problem is the right answer there.

The operations are driven one by one through Hypothesis (``APIOperation.as_strategy``)
rather than schemathesis's pytest plugin, whose lazy-fixture loader does not support pytest 9.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.world import PASSWORD, World, build_world, make_alert, seed_vitals

#: The alert id the OpenAPI examples use (api.schemas.alerts).
EXAMPLE_ALERT_ID = "4a6c04408b89695eaa031ea3"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: Generated examples per operation and mode (35 operations): about a minute in all.
POSITIVE_EXAMPLES = 40
NEGATIVE_EXAMPLES = 15


def seed_schema_examples(world: World) -> None:
    """Give the ids in the document's examples real records, so generated requests that use
    them reach the handlers' success paths, not only their 404s."""
    world.registry.add_patient("P0001")
    world.accounts.assign_patient("ward-a", "P0001")
    world.registry.add_device("watch-0001", "P0001")
    world.accounts.add_user("dr.osei", PASSWORD, role="clinician", teams=["ward-a"])
    opening = make_alert("P0001", "tachycardia", 15)
    world.store.put_alerts([msgspec.structs.replace(opening, alert_id=EXAMPLE_ALERT_ID)])
    seed_vitals(world.store, "P0001", hours=1)


@pytest.fixture(scope="module")
def fuzz_world() -> Iterator[World]:
    w = build_world(vitals_hours=1)
    seed_schema_examples(w)
    yield w
    w.store.close()
    w.registry.close()


def _requests_served(world: World) -> float:
    total = 0.0
    for metric in world.services.metrics.requests.collect():
        total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def _run(world: World, mode: GenerationMode, examples: int) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    headers = world.auth("admin")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # a broken schema fails here
        if operation.path.endswith("/alerts/stream"):
            continue
        operations += 1

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Unsatisfiable:
            continue  # no invalid input exists (an operation without parameters or body)
        except (Exception, BaseExceptionGroup) as exc:  # report every operation's failures
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    return operations, failures


def test_valid_requests_get_documented_non_5xx_responses(fuzz_world: World) -> None:
    before = _requests_served(fuzz_world)
    operations, failures = _run(fuzz_world, GenerationMode.POSITIVE, POSITIVE_EXAMPLES)
    served = _requests_served(fuzz_world) - before
    assert operations >= 30
    assert served >= 10 * operations  # the run really exercised every operation
    assert not failures, "\n\n".join(failures)


def test_invalid_requests_are_rejected_with_4xx_problems(fuzz_world: World) -> None:
    before = _requests_served(fuzz_world)
    operations, failures = _run(fuzz_world, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)
    served = _requests_served(fuzz_world) - before
    assert operations >= 30
    assert served >= 5 * operations
    assert not failures, "\n\n".join(failures)
