"""Pipeline configuration: YAML/TOML, CLI overrides, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadsight.config import ConfigError, load_pipeline_config


def test_yaml_config_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "source: a.mp4\ntelemetry: a.tlog\ndetect:\n  conf: 0.4\n  class_conf: {pothole: 0.6}\n",
        encoding="utf-8",
    )
    cfg = load_pipeline_config(
        path, {"source": "b.mp4", "detect": {"conf": None}, "kafka": {"bootstrap": None}}
    )
    assert cfg.source == "b.mp4"
    assert cfg.detect.conf == 0.4
    assert cfg.detect.class_conf == {"pothole": 0.6}
    assert cfg.kafka.bootstrap is None


def test_toml_config(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('source = "a.mp4"\ntelemetry = "a.SRT"\n[sampling]\nmax_fps = 5\n', encoding="utf-8")
    assert load_pipeline_config(path, {}).sampling.max_fps == 5


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("source: a.mp4\ntelemetry: t\ndetect:\n  conf: 3\n", r"detect\.conf"),
        ("source: a.mp4\ntelemetry: t\ndetecc: {}\n", r"detecc"),
        ("telemetry: t\n", r"source: required"),
        ("source: a.mp4\n", r"telemetry: required"),
        ("source: a.mp4\ntelemetry: t\nsources: [{source: b.mp4, telemetry: u}]\n", r"not both"),
        ("sources: [{source: b.mp4}]\n", r"sources\.0\.telemetry: Field required"),
        (
            "sources: [{source: a.mp4, telemetry: t, source_id: x},"
            " {source: b.mp4, telemetry: u, source_id: x}]\n",
            r"source_id x used more than once",
        ),
        ("source: a.mp4\ntelemetry: t\nsampling: {max_fps: fast}\n", r"sampling\.max_fps"),
        ("- just\n- a list\n", r"mapping of keys"),
        ("source: [unclosed\n", r"not valid YAML"),
    ],
)
def test_malformed_config_names_the_key(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as err:
        load_pipeline_config(path, {})
    assert "bad.yaml" in str(err.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_pipeline_config(tmp_path / "nope.yaml", {})


def test_several_sources_take_the_top_level_defaults(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(
        "camera: vehicle_dashcam_1080p\ntime_offset_s: 0.5\nsources:\n"
        "  - {source: rtsp://cam/live, telemetry: 'udp:127.0.0.1:14550', source_id: drone}\n"
        "  - {source: b.mp4, telemetry: b.nmea, camera: dji_m3e_wide, time_offset_s: 0}\n",
        encoding="utf-8",
    )
    first, second = load_pipeline_config(path, {}).streams()
    assert (first.source_id, first.camera, first.time_offset_s) == ("drone", "vehicle_dashcam_1080p", 0.5)
    # An explicit 0 offset is kept, not replaced by the default.
    assert (second.source_id, second.camera, second.time_offset_s) == ("cam1", "dji_m3e_wide", 0.0)


def test_one_source_at_the_top_level_is_one_stream(tmp_path: Path) -> None:
    cfg = load_pipeline_config(None, {"source": "a.mp4", "telemetry": "a.tlog", "source_id": "v1"})
    (stream,) = cfg.streams()
    assert (stream.source, stream.telemetry, stream.source_id, stream.camera) == (
        "a.mp4",
        "a.tlog",
        "v1",
        "dji_m3e_wide",
    )


def test_the_readme_configuration_example_is_valid() -> None:
    """The configuration shown in the README is what the schema accepts (keeps the docs true)."""
    import yaml

    from roadsight.config import PipelineConfig

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("```yaml\nsource: ") + len("```yaml\n")
    block = readme[start : readme.index("```", start)]
    cfg = PipelineConfig.model_validate(yaml.safe_load(block))
    assert cfg.sampling.mode == "distance" and cfg.tracking.enabled and cfg.cases.enabled
