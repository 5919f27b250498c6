"""The ``vigil`` entry point: an unreachable service is one clear line and exit 1."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError

import vigil.cli


def test_an_unreachable_kafka_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def app(prog_name: str) -> None:
        raise KafkaConnectionError("Unable to bootstrap from 127.0.0.1:1")

    monkeypatch.setattr(vigil.cli, "app", app)
    with pytest.raises(SystemExit) as exit_:
        vigil.cli.main()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach Kafka at ") and "Traceback" not in err
    assert "KafkaConnectionError: Unable to bootstrap from 127.0.0.1:1." in err
    assert err.count("\n") == 1 and "deploy/local/stack up" in err


def test_other_errors_are_not_disguised(monkeypatch: pytest.MonkeyPatch) -> None:
    def app(prog_name: str) -> None:
        raise ZeroDivisionError

    monkeypatch.setattr(vigil.cli, "app", app)
    with pytest.raises(ZeroDivisionError):
        vigil.cli.main()
