"""bench/second_cohort.py: a cohort that ``vigil eval`` reads, the same for the same seed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import second_cohort  # noqa: E402
from ingest.exceptions import SampleRejected  # noqa: E402
from ingest.sample import parse_sample  # noqa: E402
from stream.cohort_eval import configs_from_labels  # noqa: E402
from stream.evaluation import events_from_labels, patient_days_from_labels  # noqa: E402
from stream.records import RecordReader  # noqa: E402

EVENT_TYPES = {"tachycardia", "bradycardia", "desaturation", "fever", "hypotension", "tachypnea",
               "hypertensive_crisis", "sepsis"}  # fmt: skip
SMALL = ["--patients", "6", "--days", "1", "--seed", "3"]


def generate(out: Path, *extra: str) -> Path:
    assert second_cohort.main(["--out", str(out), *SMALL, *extra]) == 0
    return out


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("second") / "cohort")


@pytest.fixture(scope="module")
def labels(cohort: Path) -> dict[str, object]:
    return json.loads((cohort / "labels.json").read_text())


def test_labels_have_the_schema_of_vigil_simulate(labels):
    assert {"patients", "events"} <= set(labels)
    assert len(labels["patients"]) == 6
    for p in labels["patients"]:
        assert {"patient_id", "device_id", "config", "first_sample", "last_sample"} <= set(p)
        assert p["config"]["spo2_scale"] in (1, 2)
    assert labels["events"]
    pids = {p["patient_id"] for p in labels["patients"]}
    for e in labels["events"]:
        assert {"patient_id", "type", "onset", "end", "cold_start"} <= set(e)
        assert e["type"] in EVENT_TYPES
        assert e["patient_id"] in pids
        assert e["onset"] < e["end"]


def test_the_evaluation_reads_the_labels(labels):
    events = events_from_labels(labels)
    assert len(events) == len(labels["events"])
    assert all(ev.end > ev.onset for ev in events)
    assert 5.5 < patient_days_from_labels(labels) <= 6.0
    configs = configs_from_labels(labels)
    assert set(configs) == {p["patient_id"] for p in labels["patients"]}


def test_the_record_reader_reads_the_samples_and_nearly_all_are_valid(cohort, labels):
    reader = RecordReader(cohort / "samples.jsonl")
    accepted = rejected = 0
    for raw in reader:
        try:
            parse_sample(raw, patient_id=raw["patient_id"], device_id=raw["device_id"])
        except SampleRejected:
            rejected += 1
        else:
            accepted += 1
    assert reader.malformed == 0
    assert accepted > 6 * 1200
    assert rejected <= 0.005 * (accepted + rejected)


def test_the_same_seed_gives_byte_identical_files(cohort, tmp_path):
    again = generate(tmp_path / "again")
    for name in ("samples.jsonl", "labels.json"):
        assert (again / name).read_bytes() == (cohort / name).read_bytes()


def test_without_a_confounder_changes_the_samples(cohort, tmp_path):
    other = generate(tmp_path / "no_walk", "--without", "walk")
    assert (other / "samples.jsonl").read_bytes() != (cohort / "samples.jsonl").read_bytes()


def test_brief_only_switches_off_what_is_beyond_the_brief(tmp_path):
    brief = generate(tmp_path / "brief", "--brief-only")
    without = generate(tmp_path / "without", "--without", ",".join(second_cohort.BEYOND_BRIEF))
    assert (brief / "samples.jsonl").read_bytes() == (without / "samples.jsonl").read_bytes()


def test_an_unknown_confounder_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        second_cohort.main(["--out", str(tmp_path / "x"), "--without", "walk,sneeze"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "sneeze" in err
    assert all(name in err for name in second_cohort.CONFOUNDERS)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("option", [["--patients", "0"], ["--days", "-1"], ["--days", "two"]])
def test_no_patients_or_days_is_a_usage_error(tmp_path, capsys, option):
    with pytest.raises(SystemExit) as exc:
        second_cohort.main(["--out", str(tmp_path / "x"), *option])
    assert exc.value.code == 2
    assert option[0] in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
