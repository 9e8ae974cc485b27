"""Schedules, exports and metadata stores a user gets wrong: one line, non-zero, no files."""

from __future__ import annotations

import datetime
import socket

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.schedule import ScheduleError, make_trigger, parse_interval
from tests.conftest import one_line_error


def test_intervals_and_crontab_lines():
    assert parse_interval("6h") == datetime.timedelta(hours=6)
    assert parse_interval("30s") == datetime.timedelta(seconds=30)
    for bad in ("6", "h", "0m", "1.5h", "6 hours", "-1d"):
        with pytest.raises(ScheduleError, match="Invalid interval"):
            parse_interval(bad)
    saturday = datetime.datetime(2026, 11, 21, 12, tzinfo=datetime.timezone.utc)
    # Crontab's 0 is Sunday (APScheduler 3 alone would read it as Monday).
    sunday = make_trigger(cron="0 3 * * 0").get_next_fire_time(None, saturday)
    assert sunday.strftime("%a %H:%M") == "Sun 03:00"
    weekdays = make_trigger(cron="0 3 * * 1-5").get_next_fire_time(None, saturday)
    assert weekdays.strftime("%a") == "Mon"
    for bad in ("61 3 * * *", "0 3 * *", "every day"):
        with pytest.raises(ScheduleError, match="Invalid cron expression"):
            make_trigger(cron=bad)
    with pytest.raises(ScheduleError, match="exactly one"):
        make_trigger(cron="0 3 * * *", every="6h")


def test_schedule_and_metadata_config_keys_are_checked_at_load():
    with pytest.raises(ConfigError, match="schedule.cron"):
        load_config(overrides=["schedule.cron=0 25 * * *"])
    with pytest.raises(ConfigError, match="'metadata.host' must be set"):
        load_config(overrides=["metadata.store=mysql"])
    with pytest.raises(ConfigError, match="beam.flink_master"):
        load_config(overrides=["beam.runner=FlinkRunner"])
    with pytest.raises(ConfigError, match="gs://"):
        load_config(overrides=["beam.runner=DataflowRunner", "beam.project=p",
                               "beam.region=r", "beam.temp_location=/tmp"])
    with pytest.raises(ConfigError, match="only with ingest.kind 'tfrecord'"):
        load_config(overrides=["ingest.path=/data/span-{SPAN}"])


def test_beam_runner_arguments_parse_as_beam_options():
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    spark = load_config(overrides=["beam.runner=SparkRunner",
                                   "beam.spark_master_url=spark://h:7077",
                                   "beam.environment_type=DOCKER",
                                   "beam.sdk_container_image=reg/dlpipe:1"])
    assert spark.beam_args() == ["--runner=SparkRunner", "--spark_master_url=spark://h:7077",
                                 "--environment_type=DOCKER",
                                 "--sdk_container_image=reg/dlpipe:1",
                                 "--job_server_timeout=86400"]
    options = PipelineOptions(spark.beam_args())
    assert options.view_as(StandardOptions).runner == "SparkRunner"
    assert options.get_all_options()["spark_master_url"] == "spark://h:7077"
    assert options.get_all_options()["job_server_timeout"] == 86400
    dataflow = load_config(overrides=["beam.runner=DataflowRunner", "beam.project=p",
                                      "beam.region=europe-west1", "beam.temp_location=gs://b/t"])
    all_options = PipelineOptions(dataflow.beam_args()).get_all_options()
    assert (all_options["project"], all_options["region"], all_options["temp_location"]) == (
        "p", "europe-west1", "gs://b/t")
    assert load_config().beam_args()[0] == "--runner=DirectRunner"


def test_invalid_schedule_writes_nothing(cli, tmp_path):
    root = tmp_path / "out"
    one_line_error(cli("schedule", "--cron", "61 3 * * *", "--set", f"output_root={root}"),
                    2, "Invalid cron expression '61 3 * * *'")
    one_line_error(cli("schedule", "--every", "soon", "--set", f"output_root={root}"),
                    2, "Invalid interval 'soon'")
    one_line_error(cli("schedule", "--set", f"output_root={root}"), 2, "exactly one schedule")
    one_line_error(cli("export", "airflow", "--cron", "* *", "--set", f"output_root={root}"),
                    2, "Invalid cron expression")
    assert not root.exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens


def test_unreachable_mysql_store_writes_nothing(cli, tmp_path):
    root = tmp_path / "out"
    sets = ["--set", f"output_root={root}", "--set", "metadata.store=mysql",
            "--set", "metadata.host=127.0.0.1", "--set", f"metadata.port={_closed_port()}",
            "--set", "metadata.database=dlpipe", "--set", "metadata.user=dlpipe"]
    one_line_error(cli("run", *sets), 1, "ML Metadata store mysql://dlpipe@127.0.0.1:",
                    "is unreachable")
    one_line_error(cli("runs", *sets), 1, "is unreachable")
    assert not root.exists()
