"""Drone, vehicle rig and edge profiles: every bundled one validates, bad ones name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware.device_profiles import (
    PROFILE_KINDS,
    DroneProfile,
    EdgeProfile,
    VehicleRigProfile,
    list_profiles,
    load_drone_profile,
    load_edge_profile,
    load_profile,
    load_vehicle_rig_profile,
)
from hardware.failsafe import FailsafeError, failsafe_parameters
from hardware.profiles import ProfileError, load_camera_profile

REQUIRED = {
    "drones": {
        "dji_matrice_30t",
        "dji_mavic_3_enterprise",
        "dji_matrice_350_h20",
        "generic_ardupilot_quad",
        "generic_px4_quad",
    },
    "vehicles": {"patrol_sedan_roof", "utility_van_roof"},
    "edge": {"jetson_orin_nx", "jetson_agx_orin", "x86_cpu"},
    "cameras": {"dji_m3e_wide", "dji_m30t_wide", "dji_h20_wide", "vehicle_dashcam_1080p"},
}


@pytest.mark.parametrize("kind", PROFILE_KINDS)
def test_every_bundled_profile_validates(kind: str) -> None:
    names = list_profiles(kind)
    assert REQUIRED[kind] <= set(names)
    for name in names:
        assert load_profile(kind, name).name == name


def test_drones_reference_real_cameras_with_sane_fields() -> None:
    for name in list_profiles("drones"):
        drone = load_drone_profile(name)
        assert isinstance(drone, DroneProfile)
        hfov, vfov = load_camera_profile(drone.camera).fov_deg()
        assert 40 < hfov < 100 and 20 < vfov < 80, name
        assert 0 < drone.low_battery_rtl_percent < 50
    assert load_drone_profile("generic_px4_quad").autopilot == "px4"
    assert load_drone_profile("dji_matrice_350_h20").camera == "dji_h20_wide"


def test_vehicle_rigs_and_edge_profiles() -> None:
    rig = load_vehicle_rig_profile("patrol_sedan_roof")
    assert isinstance(rig, VehicleRigProfile)
    assert rig.mount.height_m == pytest.approx(1.6) and rig.mount.pitch_deg == pytest.approx(-20.0)
    nx = load_edge_profile("jetson_orin_nx")
    assert isinstance(nx, EdgeProfile)
    assert (nx.decoder_element, nx.gpu, nx.tensorrt_precision) == ("nvv4l2decoder", True, "fp16")
    cpu = load_edge_profile("x86_cpu")
    assert (cpu.decoder_element, cpu.gpu, cpu.tensorrt_precision) == ("avdec_h264", False, None)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    return path


DRONE = """name: bad
autopilot: ardupilot
camera: dji_m3e_wide
max_speed_mps: 12
endurance_min: 20
low_battery_rtl_percent: 25
"""


def test_bad_profiles_name_file_and_key(tmp_path: Path) -> None:
    assert load_drone_profile(_write(tmp_path, DRONE)).max_speed_mps == 12
    with pytest.raises(ProfileError, match=r"bad\.yaml: max_speed_mps: .*greater than 0"):
        load_profile("drones", _write(tmp_path, DRONE.replace("max_speed_mps: 12", "max_speed_mps: -1")))
    with pytest.raises(ProfileError, match=r"bad\.yaml: autopilot: "):
        load_profile("drones", _write(tmp_path, DRONE.replace("ardupilot", "betaflight")))
    with pytest.raises(ProfileError, match=r"bad\.yaml: camera: unknown camera profile 'nope'"):
        load_profile("drones", _write(tmp_path, DRONE.replace("dji_m3e_wide", "nope")))
    with pytest.raises(ProfileError, match=r"bad\.yaml: wingspan: Extra inputs"):
        load_profile("drones", _write(tmp_path, DRONE + "wingspan: 2\n"))
    with pytest.raises(ProfileError, match=r"bad\.yaml: batch: "):
        load_profile(
            "edge", _write(tmp_path, "name: e\nplatform: x86\ndecoder_element: a\ngpu: false\nbatch: 0\n")
        )
    with pytest.raises(ProfileError, match=r"unknown drones profile 'nope' \(known: .*generic_px4_quad"):
        load_profile("drones", "nope")
    with pytest.raises(ProfileError, match=r"unknown profile kind 'boats'"):
        list_profiles("boats")


def test_failsafe_parameters_follow_the_profile() -> None:
    px4 = load_drone_profile("generic_px4_quad")
    assert failsafe_parameters(px4) == {"NAV_DLL_ACT": 2.0, "COM_LOW_BAT_ACT": 3.0, "BAT_CRIT_THR": 0.25}
    ardu = load_drone_profile("generic_ardupilot_quad")
    params = failsafe_parameters(ardu, battery_capacity_mah=5200)
    assert params == {"FS_GCS_ENABLE": 1.0, "BATT_FS_LOW_ACT": 2.0, "BATT_LOW_MAH": 1300}
    no_link_rtl = ardu.model_copy(update={"rtl_on_link_loss": False})
    assert failsafe_parameters(no_link_rtl, battery_capacity_mah=5200)["FS_GCS_ENABLE"] == 0.0
    with pytest.raises(FailsafeError, match=r"generic_ardupilot_quad: .*give BATT_CAPACITY"):
        failsafe_parameters(ardu)
    with pytest.raises(FailsafeError, match=r"dji_matrice_30t: dji failsafes are set in the vendor app"):
        failsafe_parameters(load_drone_profile("dji_matrice_30t"))
