"""glibc keeps frame-sized buffers in mmap (returned to the OS on free) once the pipeline tunes it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

# Free an 8 MB block, then hold a 6 MB one (a 1080p BGR frame): is it mmapped (mallinfo2().hblks)?
PROBE = """
import ctypes, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "tuned":
    from roadsight.malloc_tuning import tune_malloc
    print(sorted(tune_malloc()), file=sys.stderr)
before = libc.mallinfo2().hblks
libc.free(libc.malloc(8 << 20))
frame = libc.malloc(6 << 20)
print(libc.mallinfo2().hblks - before)
"""


def _mmapped_blocks(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    return int(result.stdout.strip())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc allocator settings")
def test_frame_sized_buffers_stay_mmapped_after_tuning() -> None:
    assert _mmapped_blocks("default") == 0  # glibc's dynamic threshold moved the frame to the heap
    assert _mmapped_blocks("tuned") == 1


def test_operator_settings_in_the_environment_win() -> None:
    env = {**os.environ, "MALLOC_ARENA_MAX": "4"}
    env.pop("MALLOC_MMAP_THRESHOLD_", None)
    code = "from roadsight.malloc_tuning import tune_malloc; print(sorted(tune_malloc()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    expected = "['M_MMAP_THRESHOLD']" if platform.libc_ver()[0] == "glibc" else "[]"
    assert out.stdout.strip() == expected
