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


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VIGIL_VITALS_PARTITIONS": "0"}, "VIGIL_VITALS_PARTITIONS: Input should be greater"),
        ({"VIGIL_VITALS_PARTITIONS": "twelve"}, "VIGIL_VITALS_PARTITIONS: Input should be a valid"),
        ({"VIGIL_CHECKPOINT_EVERY_S": "-1"}, "VIGIL_CHECKPOINT_EVERY_S: Input should be greater"),
        ({"VIGIL_ENVIRONMENT": "production"}, "VIGIL_MQTT_PASSWORD must be set in production"),
    ],
)
def test_refused_settings_are_one_line_naming_the_variable_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    message: str,
) -> None:
    import os

    from stream.worker_settings import WorkerSettings

    for name in [n for n in os.environ if n.startswith("VIGIL_")]:  # (make test sets secrets)
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def app(prog_name: str) -> None:
        WorkerSettings(_env_file=None)

    monkeypatch.setattr(vigil.cli, "app", app)
    with pytest.raises(SystemExit) as exit_:
        vigil.cli.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid settings: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_model_that_is_not_settings_refusing_its_input_is_not_disguised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import BaseModel, ValidationError

    class Point(BaseModel):
        x: int

    def app(prog_name: str) -> None:
        Point(x="a")  # type: ignore[arg-type]

    monkeypatch.setattr(vigil.cli, "app", app)
    with pytest.raises(ValidationError):
        vigil.cli.main()
