"""`roadsight bench --kafka/--postgis`: produce and sink figures against the real broker and PostGIS."""

from __future__ import annotations

from pathlib import Path

from roadsight.bench import BenchReport, bench_produce, bench_sink


def test_produce_and_sink_figures_are_produced(
    kafka_bootstrap: str, postgis_url: str, tmp_path: Path
) -> None:
    report = BenchReport("machine", "roadsight bench --kafka", "now")
    bench_produce(report, kafka_bootstrap, 3000)
    figures = {f.name: f for f in report.figures}
    produce = figures["Kafka produce through the spool"]
    assert produce.value > 0 and "3,000 on the topic" in produce.note  # every event arrived
    assert "sender child process" in produce.note
    assert figures["  per CPU-second of the edge process"].value > 0
    # More than two of the sink's 5,000-record batches: the clock starts after the first.
    bench_sink(report, kafka_bootstrap, 12_000, tmp_path, postgis_url=postgis_url)
    names = [f.name for f in report.figures]
    assert "Kafka sink into GeoPackage" in names and "Kafka sink into PostGIS" in names
    assert all(f.value > 0 for f in report.figures), [(f.name, f.value) for f in report.figures]
