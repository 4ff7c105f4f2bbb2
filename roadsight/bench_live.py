"""Live load for `roadsight bench`: capture-to-store latency at 80 % load, and the soak.

A mission is rendered at a frame rate of 0.8x the measured end-to-end maximum
(:func:`paced_mission`: same scenario and seed, only the frame rate changed, so
telemetry and video still agree), served by the simulator as a looping live RTSP
stream with MAVLink telemetry, and read by a real pipeline in its own process
(:func:`run_live`), so the RSS measured is the pipeline's alone.

Latency is measured per processed frame, from its capture time (``Frame.time_utc``:
the sender's RTCP clock, i.e. when the simulated camera sent it) to the end of the
store write of the loop turn that processed it, taken in the pipeline process through
its ``progress`` hook (called on the pipeline's post stage right after the store write)
and the capture times of the frames that turn stored (``Pipeline.turn_frame_times``).
Tracking is off in this run, so each frame's detections are rows in the store at that
moment (with tracking on, an object's row waits until its track ends, by design).

Example:
    >>> work = Path("data/bench")
    >>> mission = paced_mission("drone_quick", fps=16.0, duration_s=6, work=work)  # doctest: +SKIP
    >>> run = run_live(mission, Path("model.onnx"), work, seconds=20, warmup_s=5)  # doctest: +SKIP
    >>> run.latency_ms(95), run.rss_growth_percent  # doctest: +SKIP
    (212.4, 0.8)
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from roadsight.bench_peer import process_cpu_seconds


@dataclass
class LiveRun:
    """What the pipeline process measured over one live run."""

    seconds: float
    warmup_s: float
    served_fps: float
    frames_processed: int
    frames_dropped: int  # by the latest-frame policy: the pipeline fell behind the stream
    frames_lost: int  # missing from the stream before decoding
    cpu_percent: float  # pipeline process CPU time / wall time, all threads
    latencies_ms: list[float] = field(default_factory=list)  # frames captured after warm-up
    rss_samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, bytes)
    peak_rss_bytes: int = 0  # the kernel's high-water mark of this process (VmHWM)

    def latency_ms(self, percentile: float) -> float:
        return float(np.percentile(self.latencies_ms, percentile)) if self.latencies_ms else float("nan")

    def _mean_rss(self, start_s: float, end_s: float) -> float:
        window = [rss for t, rss in self.rss_samples if start_s <= t <= end_s]
        return float(np.mean(window)) if window else float("nan")

    @property
    def rss_after_warmup_bytes(self) -> float:
        """Mean RSS over the first tenth of the run after warm-up (at least 2 s)."""
        span = max(2.0, 0.1 * (self.seconds - self.warmup_s))
        return self._mean_rss(self.warmup_s, self.warmup_s + span)

    @property
    def rss_end_bytes(self) -> float:
        """Mean RSS over the last tenth of the run (at least 2 s)."""
        span = max(2.0, 0.1 * (self.seconds - self.warmup_s))
        return self._mean_rss(self.seconds - span, self.seconds)

    @property
    def rss_growth_percent(self) -> float:
        return 100 * (self.rss_end_bytes / self.rss_after_warmup_bytes - 1)


def paced_mission(scenario: str | Path, *, fps: float, duration_s: float, work: Path, seed: int = 0) -> Path:
    """The ``scenario`` mission re-rendered at ``fps`` (rounded to 0.1) for ``duration_s``.

    Same scenario and seed, so the same world and flight; cached in ``work``.
    """
    from hardware.sim import generate_mission
    from hardware.sim.scenario import SCENARIOS_DIR, load_scenario

    path = (
        Path(scenario) if Path(scenario).suffix in (".yaml", ".yml") else SCENARIOS_DIR / f"{scenario}.yaml"
    )
    base = load_scenario(path)
    fps = max(1.0, round(fps, 1))
    paced = base.model_copy(
        update={"video": base.video.model_copy(update={"fps": fps}), "duration_s": float(duration_s)}
    )
    out = work / f"paced-{base.name}-s{seed}-{fps:g}fps-{duration_s:g}s"
    if not (out / "scenario.json").is_file() or not (out / "video.ts").is_file():
        generate_mission(paced, seed, out, progress=False)
    return out


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def live_config(mission: Path, model: Path, store: Path, rtsp_url: str, mavlink_port: int) -> dict[str, Any]:
    """The pipeline configuration of the live run (every frame, tracking off: see the module doc)."""
    manifest = json.loads((mission / "scenario.json").read_text(encoding="utf-8"))
    return {
        "source": rtsp_url,
        "telemetry": f"udp:127.0.0.1:{mavlink_port}",
        "camera": manifest["camera_profile"],
        "mission_id": "bench-live",
        "store": str(store),
        "detect": {"model": str(model)},
        "sampling": {"mode": "all"},
        "tracking": {"enabled": False},
        "cases": {"enabled": False},  # the case book is built once at the end of a pass, not per frame
        "capture": {"transport": "tcp"},
    }


def run_live(
    mission: Path, model: Path, work: Path, *, seconds: float, warmup_s: float, timeout_s: float | None = None
) -> LiveRun:
    """Serve ``mission`` live (looping) and run the pipeline on it in a child process for ``seconds``."""
    from hardware.sim.serve import serve_mission

    manifest = json.loads((mission / "scenario.json").read_text(encoding="utf-8"))
    mavlink_port = _free_port(socket.SOCK_DGRAM)
    store = work / "bench-live.gpkg"
    store.unlink(missing_ok=True)
    result_path = work / "bench-live.json"
    result_path.unlink(missing_ok=True)
    with serve_mission(
        mission, rtsp_port=0, mavlink_out=f"udpout:127.0.0.1:{mavlink_port}", loop=True
    ) as server:
        assert server.rtsp_url is not None
        config = live_config(mission, model, store, server.rtsp_url, mavlink_port)
        (work / "bench-live-config.json").write_text(json.dumps(config), encoding="utf-8")
        child = subprocess.run(
            [
                sys.executable, "-m", "roadsight.bench_live", str(work / "bench-live-config.json"),
                str(result_path), str(seconds), str(warmup_s),
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s if timeout_s is not None else seconds + 300,
        )  # fmt: skip
    if child.returncode != 0 or not result_path.is_file():
        raise RuntimeError(
            f"live pipeline run failed (exit {child.returncode}):\n{child.stdout}{child.stderr}"
        )
    data = json.loads(result_path.read_text(encoding="utf-8"))
    data["rss_samples"] = [tuple(s) for s in data["rss_samples"]]
    return LiveRun(served_fps=float(manifest["video"]["fps"]), **data)


class _RunOver(Exception):
    """Raised from the progress hook to end a live run after its time (the pipeline cleans up)."""


def _status_bytes(field_name: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status: no {field_name} line")


def _sample_rss(samples: list[tuple[float, int]], started: float, stop: threading.Event) -> None:
    while not stop.is_set():
        samples.append((time.monotonic() - started, _status_bytes("VmRSS")))
        stop.wait(0.5)


def measure_live(config: dict[str, Any], seconds: float, warmup_s: float) -> dict[str, Any]:
    """In the pipeline process: run ``config`` for ``seconds``; latencies after ``warmup_s``, RSS, CPU."""
    from roadsight.config import PipelineConfig
    from roadsight.pipeline import Pipeline, RunSummary

    pipeline = Pipeline(PipelineConfig.model_validate(config))
    latencies = array("d")
    seen = 0
    last: list[RunSummary] = []
    started = time.monotonic()
    warm_after_utc = time.time() + warmup_s

    def on_turn(summary: RunSummary) -> None:
        # Called right after the store write of a loop turn: every frame processed so far is stored.
        nonlocal seen
        now = time.time()
        for time_utc in pipeline.turn_frame_times:
            if time_utc >= warm_after_utc:
                latencies.append((now - time_utc) * 1000)
        seen += len(pipeline.turn_frame_times)
        if not last:
            last.append(summary)
        if time.monotonic() - started >= seconds:
            raise _RunOver

    pipeline.progress = on_turn
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(samples, started, stop), daemon=True)
    sampler.start()
    cpu0 = process_cpu_seconds()
    with contextlib.suppress(_RunOver):
        pipeline.run()
    wall = time.monotonic() - started
    cpu = process_cpu_seconds() - cpu0
    stop.set()
    sampler.join()
    summary = last[0] if last else RunSummary()
    summary.add_totals()  # the decode threads' final counters, written when the cameras closed
    return {
        "seconds": wall,
        "warmup_s": warmup_s,
        "frames_processed": seen,
        "frames_dropped": summary.frames_dropped,
        "frames_lost": sum(s.frames_lost for s in summary.sources.values()),
        "cpu_percent": 100 * cpu / wall,
        "latencies_ms": list(latencies),
        "rss_samples": samples,
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve from the forked parent
        # (the bench process, with everything it loaded).
        "peak_rss_bytes": _status_bytes("VmHWM"),
    }


def main(argv: list[str]) -> int:
    config_path, result_path, seconds, warmup_s = argv
    import onnxruntime  # noqa: F401  (must load before GStreamer)

    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    result = measure_live(config, float(seconds), float(warmup_s))
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1:]))
