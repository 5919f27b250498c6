"""``vigil replay``, ``vigil simulate`` and ``vigil eval`` from the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from ingest.simulator import CohortSpec, write_cohort
from stream import cli

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # keep sub-command names
    cli.register(app)
    return app


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    write_cohort(CohortSpec(patients=4, days=1.0, seed=21, events_per_day=1.5), out)
    return out


def _run(app: typer.Typer, *args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_replay_twice_gives_byte_identical_alerts_and_scores(app, cohort, tmp_path):
    outs = []
    for run in ("a", "b"):
        alerts, scores = tmp_path / f"{run}.jsonl", tmp_path / f"{run}.csv"
        _run(app, "replay", cohort / "samples.jsonl", "--alerts", alerts, "--scores", scores)
        outs.append((alerts.read_bytes(), scores.read_bytes()))
    assert outs[0] == outs[1]
    assert outs[0][0], "the cohort's events should raise alerts"


def test_replay_writes_iso_alerts_and_one_score_row_per_accepted_sample(app, cohort, tmp_path):
    alerts, scores = tmp_path / "a.jsonl", tmp_path / "s.csv"
    out = _run(app, "replay", cohort / "samples.jsonl", "--alerts", alerts, "--scores", scores)
    labels = json.loads((cohort / "labels.json").read_text())
    n_samples = labels["summary"]["samples"]
    n_invalid = labels["summary"]["invalid_samples"]
    with scores.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["patient_id", "ts", "score"]
    assert len(rows) - 1 == n_samples - n_invalid
    assert all(r[1].endswith("Z") and 0.0 <= float(r[2]) <= 1.0 for r in rows[1:])
    first = orjson.loads(alerts.read_bytes().splitlines()[0])
    assert first["detected_at"].endswith("Z") and first["category"] in ("clinical", "technical")
    assert f"samples {n_samples}: accepted {n_samples - n_invalid}, rejected {n_invalid}" in out
    assert "out_of_range" in out
    assert "alerts " in out and "clinical" in out
    # the worker's alert stream: each alert_id's records in order, ending resolved if it ended
    records = [orjson.loads(line) for line in alerts.read_bytes().splitlines()]
    by_id: dict[str, list[str]] = {}
    for r in records:
        by_id.setdefault(r["alert_id"], []).append(r["status"])
    assert any(statuses[-1] == "resolved" for statuses in by_id.values())
    assert all(statuses[0] == "open" and "open" not in statuses[1:] for statuses in by_id.values())


def test_replay_reads_csv_like_jsonl(app, cohort, tmp_path):
    lines = (cohort / "samples.jsonl").read_bytes().splitlines()
    fields = ["patient_id", "device_id", "ts", "hr", "spo2", "rr", "temp", "sbp", "dbp"]
    fields += ["motion", "quality"]
    src = tmp_path / "samples.csv"
    with src.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for line in lines:
            w.writerow(orjson.loads(line))
    _run(app, "replay", cohort / "samples.jsonl", "--alerts", tmp_path / "j.jsonl")
    out = _run(app, "replay", src, "--alerts", tmp_path / "c.jsonl")
    assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "j.jsonl").read_bytes()
    assert f"samples {len(lines)}" in out


def _replay_lines(app, tmp_path, *fields: str) -> str:
    """Replay one JSONL line per ``fields`` (a line of p1/d1 at minute i, or raw when not JSON)."""
    src = tmp_path / "s.jsonl"
    lines = [
        f'{{"patient_id": "p1", "device_id": "d1", "ts": "2025-01-06T00:0{i}:00Z", {f}}}'
        if f.startswith('"')
        else f
        for i, f in enumerate(fields)
    ]
    src.write_text("\n".join(lines) + "\n")
    return _run(app, "replay", src, "--alerts", tmp_path / "a.jsonl")


def test_replay_counts_malformed_lines(app, tmp_path):
    out = _replay_lines(app, tmp_path, '"hr": 70', "not json", '"hr": 900')
    assert "samples 3: accepted 1, rejected 2 (malformed_line 1, out_of_range 1)" in out


def test_replay_names_non_finite_values_as_the_gateway_does(app, tmp_path):
    out = _replay_lines(app, tmp_path, '"hr": NaN', '"x": 1e400', '"hr": 70')
    assert "samples 3: accepted 1, rejected 2 (not_finite 2)" in out


def test_a_csv_byte_that_is_not_utf8_spoils_its_row_only(app, tmp_path):
    src = tmp_path / "s.csv"
    src.write_bytes(
        b"patient_id,device_id,ts,hr\n"
        b"p1,d1,2025-01-06T00:00:00Z,70\n"
        b"p1,d1,2025-01-06T00:01:00Z,7\xff\n"
        b"p1,d1,2025-01-06T00:02:00Z,71\n"
    )
    out = _run(app, "replay", src, "--alerts", tmp_path / "a.jsonl")
    assert "samples 3: accepted 2, rejected 1 (malformed_line 1)" in out


def test_replay_scores_a_plain_numeric_stream_as_a_custom_channel(app, tmp_path):
    src = tmp_path / "cpu.csv"
    rows = [f"srv1,{1_700_000_000 + 300 * i},{40 + (i % 7) * 0.5}" for i in range(300)]
    rows += [f"srv1,{1_700_000_000 + 300 * (300 + i)},95.0" for i in range(6)]
    src.write_text("patient_id,ts,cpu_load\n" + "\n".join(rows) + "\n")
    out = _run(app, "replay", src, "--alerts", tmp_path / "a.jsonl", "--scores", tmp_path / "s.csv")
    assert "samples 306: accepted 306, rejected 0" in out
    with (tmp_path / "s.csv").open() as f:
        scores = [float(r["score"]) for r in csv.DictReader(f)]
    assert len(scores) == 306 and max(scores[100:300]) < 0.5 and min(scores[-5:-1]) > 0.9
    # known for a quarter of an hour by the last reading: fading, still above 0.5
    assert 0.5 < scores[-1] < 0.9


def test_a_timestamp_value_export_is_one_stream_named_after_its_file(app, tmp_path):
    src = tmp_path / "machine_temp.csv"
    rows = [
        f"2014-04-01 {i // 12:02d}:{i % 12 * 5:02d}:00,{70 + (i % 5) * 0.3}" for i in range(240)
    ]
    src.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    scores = tmp_path / "s.csv"
    out = _run(app, "replay", src, "--alerts", tmp_path / "a.jsonl", "--scores", scores)
    assert "reading column 'timestamp' as ts" in out
    assert "every row is patient 'machine_temp'" in out
    assert "samples 240: accepted 240, rejected 0" in out
    with scores.open() as f:
        got = list(csv.DictReader(f))
    assert {r["patient_id"] for r in got} == {"machine_temp"}
    assert got[13]["ts"] == "2014-04-01T01:05:00Z"  # a naive time is UTC


def test_a_csv_from_a_spreadsheet_keeps_its_first_column_despite_the_byte_order_mark(app, tmp_path):
    src = tmp_path / "s.csv"
    src.write_bytes(b"\xef\xbb\xbfpatient_id,ts,hr\np1,2025-01-06T00:00:00Z,70\n")
    out = _run(app, "replay", src, "--alerts", tmp_path / "a.jsonl")
    assert "samples 1: accepted 1, rejected 0" in out
    assert "no patient_id column" not in out


def test_patient_id_names_the_stream_of_records_without_one(app, tmp_path):
    src = tmp_path / "s.jsonl"
    src.write_text(
        '{"ts": 1700000000, "value": 1.5}\n{"patient_id": "p2", "ts": 1700000300, "value": 2}\n'
    )
    scores = tmp_path / "s.csv"
    out = _run(app, "replay", src, "--alerts", tmp_path / "a.jsonl", "--scores", scores,
               "--patient-id", "srv")  # fmt: skip
    assert "samples 2: accepted 2, rejected 0" in out
    with scores.open() as f:
        assert [r["patient_id"] for r in csv.DictReader(f)] == ["srv", "p2"]
    # without it, a JSONL record without a patient is refused, as before
    out = _run(app, "replay", src, "--alerts", tmp_path / "a.jsonl")
    assert "accepted 1, rejected 1 (bad_id 1)" in out


COPD_NIGHT = [  # a scale-2 patient's usual SpO2 of 86 % for 40 minutes from the start
    {"patient_id": "p1", "device_id": "d1", "ts": 1_736_121_600 + 60 * i, "spo2": 86, "hr": 80}
    for i in range(40)
]


@pytest.mark.parametrize(
    "config",
    [
        {"p1": {"spo2_scale": 2}},
        {"patients": {"p1": {"spo2_scale": 2}}},
        {"patients": [{"patient_id": "p1", "config": {"spo2_scale": 2}}]},
        {"patients": [{"patient_id": "p1", "profile": "copd", "spo2_scale": 2}]},
    ],
)
def test_replay_takes_patient_settings_in_every_documented_shape(app, tmp_path, config):
    src = tmp_path / "s.jsonl"
    src.write_bytes(b"\n".join(orjson.dumps(r) for r in COPD_NIGHT) + b"\n")
    (tmp_path / "c.json").write_text(json.dumps(config))
    _run(
        app,
        "replay",
        src,
        "--alerts",
        tmp_path / "a.jsonl",
        "--patient-config",
        tmp_path / "c.json",
    )
    scale2 = (tmp_path / "a.jsonl").read_text()
    _run(app, "replay", src, "--alerts", tmp_path / "b.jsonl")
    scale1 = (tmp_path / "b.jsonl").read_text()
    assert "desaturation" in scale1 and "desaturation" not in scale2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"p1": {"spo2_scale": "x"}}', "patient p1: Expected `int`, got `str`"),
        ('{"p1": {"spo2_scale": 3}}', "patient p1: spo2_scale must be 1 or 2"),
        ('{"p1": [1, 2]}', "patient p1: expected a JSON object of settings"),
        ('{"patients": [{"config": {}}]}', "patients[0]: expected an object with a patient_id"),
        ("[1]", "expected a JSON object"),
        ("{bad", "Expecting property name"),
    ],
)
def test_bad_patient_settings_are_a_clear_usage_error(app, tmp_path, text, message):
    src = tmp_path / "s.jsonl"
    src.write_bytes(orjson.dumps(COPD_NIGHT[0]) + b"\n")
    (tmp_path / "c.json").write_text(text)
    result = runner.invoke(
        app, ["replay", str(src), "--alerts", str(tmp_path / "a.jsonl"), "--patient-config",
              str(tmp_path / "c.json")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())
    assert "Traceback" not in result.output


def test_simulate_writes_a_cohort(app, tmp_path):
    out = _run(app, "simulate", "--out", tmp_path, "--patients", "2", "--days", "0.2")
    assert (tmp_path / "samples.jsonl").stat().st_size > 0
    assert json.loads((tmp_path / "labels.json").read_text())["summary"]["patients"] == 2
    assert "wrote" in out


def test_simulate_ramp_is_written_to_the_labels_and_bounded(app, tmp_path):
    _run(app, "simulate", "--out", tmp_path, "--patients", "2", "--days", "0.2", "--ramp", "1")
    assert json.loads((tmp_path / "labels.json").read_text())["spec"]["ramp"] == 1
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--ramp", "0"])
    assert result.exit_code == 2, result.output
    assert "--ramp" in result.output


def test_simulate_needs_an_output(app):
    assert runner.invoke(app, ["simulate"]).exit_code != 0


def test_eval_prints_vigil_beside_the_baselines(app, cohort):
    out = _run(app, "eval", cohort)
    for name in ("vigil", "static", "static 5 min", "news2", "news2 5 min", "recall"):
        assert name in out
    assert "false alerts / patient-day" in out


def test_simulate_refuses_a_duration_it_cannot_read_as_a_usage_error(app, tmp_path):
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--duration", "abc"])
    assert result.exit_code == 2, result.output
    assert "--duration" in result.output and "not a duration" in result.output


def test_simulate_refuses_an_output_that_is_a_file_as_a_usage_error(app, tmp_path):
    out = tmp_path / "taken"
    out.write_text("")
    result = runner.invoke(app, ["simulate", "--out", str(out), "--patients", "1"])
    assert result.exit_code == 2, result.output
    assert "is a file" in " ".join(result.output.replace("│", " ").split())


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "has no samples.jsonl"),
        ({"samples.jsonl": ""}, "has no labels.json"),
        ({"samples.jsonl": "", "labels.json": "garbage"}, "Expecting value"),
        ({"samples.jsonl": "", "labels.json": "{}"}, "not the labels of a cohort"),
    ],
)
def test_eval_of_a_directory_that_is_not_a_cohort_is_a_usage_error(app, tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = runner.invoke(app, ["eval", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split())


@pytest.mark.parametrize("option", ["--alerts", "--scores"])
def test_replay_to_an_output_it_cannot_write_is_a_usage_error(app, tmp_path, option):
    samples = tmp_path / "in.jsonl"
    samples.write_text('{"patient_id":"p1","device_id":"d1","ts":1709280000,"hr":70}\n')
    paths = {"--alerts": tmp_path / "a.jsonl", "--scores": tmp_path / "s.csv"}
    paths[option] = tmp_path / "missing" / "out"
    args = ["replay", str(samples), "--partitions", "1"]
    args += [a for o, p in paths.items() for a in (o, str(p))]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.replace("│", " ").split())
    assert option in said and "cannot write" in said and "Traceback" not in said


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "s.jsonl (it is empty)"),
        (b"\x00\xff\xfe garbage\n{not json\n", "s.jsonl (2 unreadable lines)"),
        (b'[{"patient_id": "p1",\n "ts": 1709280000, "hr": 70}]\n', "(2 unreadable lines)"),
    ],
)
def test_replay_of_a_file_without_a_single_sample_fails_rather_than_report_no_alerts(
    app, tmp_path, content, message
):
    src = tmp_path / "s.jsonl"
    src.write_bytes(content)
    result = runner.invoke(app, ["replay", str(src), "--alerts", str(tmp_path / "a.jsonl")])
    assert result.exit_code == 1, result.output
    assert "error: no samples in " in result.output and message in result.output
