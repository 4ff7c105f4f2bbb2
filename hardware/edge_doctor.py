"""``edge doctor``: can this machine run the pipeline as its edge profile says? One check per piece.

Example:
    >>> from hardware.device_profiles import load_edge_profile
    >>> checks = run_doctor(load_edge_profile("x86_cpu"), model=None, spool_dir=Path("/tmp"), broker=None)
    >>> next(c for c in checks if c.name == "gstreamer element avdec_h264").ok
    True

Each :class:`Check` passes (``ok`` True), fails (False, with what is missing
and what provides it) or is unknown (None: a warning, never counted as a pass),
e.g. clock sync on a host without systemd or chrony.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

from capture.gst_registry import ELEMENT_PACKAGES, element_installed
from detect.errors import DetectError
from detect.tensorrt_backend import import_tensorrt, read_engine_file
from hardware.checks import Check
from hardware.device_profiles import EdgeProfile

# What every live pipeline needs besides the profile's decoder (RTSP in, frames out).
PIPELINE_ELEMENTS = ("rtspsrc", "rtph264depay", "h264parse", "videoconvert", "appsink")
MAX_CLOCK_OFFSET_S = 1.0
_COMMAND_TIMEOUT_S = 5.0


def run_doctor(
    profile: EdgeProfile,
    *,
    model: Path | None,
    spool_dir: Path,
    broker: str | None,
    broker_timeout_s: float = 2.0,
) -> list[Check]:
    """Every check for ``profile``: GStreamer, GPU, TensorRT and engine, spool disk, clock, broker."""
    checks = [check_element(name) for name in (*PIPELINE_ELEMENTS, profile.decoder_element)]
    checks.append(check_gpu(profile))
    checks.append(check_tensorrt(profile))
    if model is not None:
        checks.append(check_model(profile, model))
    checks.append(check_spool_disk(spool_dir, profile.min_spool_free_gb))
    checks.append(check_clock_sync())
    if broker is not None:
        checks.append(check_broker(broker, timeout_s=broker_timeout_s))
    return checks


def check_element(name: str) -> Check:
    label = f"gstreamer element {name}"
    if element_installed(name):
        return Check(label, True, "installed")
    package = ELEMENT_PACKAGES.get(name, "no known package provides it")
    return Check(label, False, f"GStreamer element {name} is not installed (install {package})")


def _nvidia_smi_gpus() -> list[str] | None:
    """GPU names from nvidia-smi; None when nvidia-smi is absent or fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=_COMMAND_TIMEOUT_S,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [line.strip() for line in out.splitlines() if line.strip()]


def check_gpu(profile: EdgeProfile) -> Check:
    gpus = _nvidia_smi_gpus()
    # Jetsons expose their integrated GPU as /dev/nvhost-* (nvidia-smi is missing before JetPack 6).
    nodes = sorted(
        str(p) for pattern in ("nvidia[0-9]*", "nvhost-ctrl-gpu") for p in Path("/dev").glob(pattern)
    )
    if gpus:
        return Check("gpu", True, f"nvidia-smi: {', '.join(gpus)}")
    if nodes:
        return Check("gpu", True, f"device nodes: {', '.join(nodes)}")
    if not profile.gpu:
        return Check("gpu", True, f"no NVIDIA GPU, none needed by profile {profile.name}")
    where = "JetPack (L4T) on the Jetson" if profile.platform == "jetson" else "the NVIDIA driver"
    return Check(
        "gpu",
        False,
        f"no NVIDIA GPU: nvidia-smi not found or failing and no /dev/nvidia* or /dev/nvhost-ctrl-gpu "
        f"(profile {profile.name} needs one: install {where})",
    )


def check_tensorrt(profile: EdgeProfile) -> Check:
    if profile.tensorrt_precision is None:
        return Check("tensorrt", True, f"not used by profile {profile.name} (ONNX Runtime)")
    try:
        trt, _torch = import_tensorrt()
    except DetectError as exc:
        return Check(
            "tensorrt", False, f"profile {profile.name} runs {profile.tensorrt_precision} engines: {exc}"
        )
    return Check("tensorrt", True, f"TensorRT {trt.__version__} with a CUDA GPU")


def check_model(profile: EdgeProfile, model: Path) -> Check:
    """The model exists; an engine's header matches this device's GPU and TensorRT version."""
    if not model.is_file():
        return Check("model", False, f"{model}: model file not found")
    if model.suffix != ".engine":
        if profile.tensorrt_precision is None:
            return Check("model", True, f"{model}: ONNX model for ONNX Runtime")
        return Check(
            "model", True, f"{model}: ONNX model; the {profile.tensorrt_precision} engine is built here"
        )
    try:
        meta, _blob = read_engine_file(model)
    except DetectError as exc:
        return Check("engine", False, str(exc))
    try:
        trt, torch = import_tensorrt()
    except DetectError as exc:
        return Check("engine", False, f"{model}: cannot be loaded here: {exc}")
    here = {"tensorrt": str(trt.__version__), "device": str(torch.cuda.get_device_name(0))}
    built = {key: str(meta[key]) for key in here if key in meta}
    if not built:
        return Check("engine", None, f"{model}: header names no TensorRT version or device; match unknown")
    wrong = [
        f"{key} {built[key]!r} (this machine: {here[key]!r})" for key in built if built[key] != here[key]
    ]
    if wrong:
        return Check("engine", False, f"{model}: built for another {', '.join(wrong)}: rebuild it here")
    return Check("engine", True, f"{model}: built for {json.dumps(built)}")


def check_spool_disk(spool_dir: Path, min_free_gb: float) -> Check:
    existing = spool_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the spool folder is created on first run
    free_gb = shutil.disk_usage(existing).free / 1e9
    detail = f"{free_gb:.1f} GB free at {existing} (spool {spool_dir}), need {min_free_gb:g} GB"
    return Check("spool disk", free_gb >= min_free_gb, detail)


def parse_chronyc_tracking(text: str) -> tuple[bool, float] | None:
    """``(synchronised, offset_s)`` from ``chronyc tracking`` output; None if it has no offset line."""
    offset = re.search(r"^System time\s*:\s*([0-9.]+) seconds (fast|slow)", text, re.MULTILINE)
    if offset is None:
        return None
    leap = re.search(r"^Leap status\s*:\s*(.+)$", text, re.MULTILINE)
    synchronised = leap is not None and leap.group(1).strip() != "Not synchronised"
    return synchronised, float(offset.group(1))


def _run_text(*argv: str) -> str | None:
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def check_clock_sync() -> Check:
    """NTP/GNSS sync: chrony's offset (within 1 s) or systemd's NTPSynchronized; unknown is a warning."""
    tracking = _run_text("chronyc", "tracking")
    parsed = parse_chronyc_tracking(tracking) if tracking else None
    if parsed is not None:
        synchronised, offset_s = parsed
        ok = synchronised and offset_s <= MAX_CLOCK_OFFSET_S
        return Check("clock sync", ok, f"chrony: synchronised={synchronised}, offset {offset_s:.6f} s")
    systemd = _run_text("timedatectl", "show", "-p", "NTPSynchronized", "--value")
    if systemd is not None and systemd.strip() in ("yes", "no"):
        ok = systemd.strip() == "yes"
        return Check("clock sync", ok, f"timedatectl: NTPSynchronized={systemd.strip()}")
    return Check(
        "clock sync",
        None,
        "unknown: neither chronyc nor timedatectl (systemd) answered; detection "
        "timestamps need the clock within 1 s of GNSS/NTP time",
    )


def check_broker(bootstrap: str, *, timeout_s: float = 2.0) -> Check:
    """TCP connect to each ``host:port`` of a Kafka bootstrap list; passes if any answers."""
    failures: list[str] = []
    for server in (s.strip() for s in bootstrap.split(",") if s.strip()):
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            failures.append(f"{server}: not host:port")
            continue
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return Check("broker", True, f"{server} accepts TCP connections")
        except OSError as exc:
            failures.append(f"{server}: {exc.strerror or exc}")
    return Check("broker", False, "; ".join(failures) or f"no broker in {bootstrap!r}")
