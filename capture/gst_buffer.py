"""Turn a decoded ``GstBuffer`` into an ``H x W x 3`` uint8 NumPy array.

Why ctypes: without the gst-python overrides (not installable from PyPI),
PyGObject's ``Gst.Buffer.map()`` returns ``MapInfo.data`` as a *copy* in a
``bytes`` object and cannot reliably unmap it again. ``Gst.Buffer.extract_dup``
is correct but also copies the whole frame. Calling ``gst_buffer_map`` through
ctypes maps the buffer in place; the array then points straight at the decoded
pixels. The mapping (and a reference on the buffer) is held by a small owner
object that is the array's ``base``, so the memory stays valid exactly as long
as some array views it, and is unmapped when the last view is garbage
collected. The arrays are read-only, as the ``Frame`` contract says.

The raw ``GstBuffer*`` is read from the PyGObject boxed wrapper (the pointer
right after ``PyObject_HEAD``); this layout is checked once at run time against
the buffer's ``GType`` and, if it ever differs, :func:`buffer_to_array` falls
back to ``extract_dup`` (one copy) so results stay correct.

Rows may be padded (GStreamer aligns each row of packed 24-bit formats to 4
bytes), so the array is built with the buffer's real stride from ``GstVideoMeta``
or the negotiated ``GstVideoInfo``; it is then a non-contiguous view. Call
``np.ascontiguousarray`` if a consumer needs contiguous memory.

Example:
    >>> # inside an appsink loop
    >>> # image = buffer_to_array(sample.get_buffer(), VideoLayout.from_caps(sample.get_caps()))
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from dataclasses import dataclass
from typing import Any

import gi
import numpy as np

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

log = logging.getLogger(__name__)


class _GstMapInfo(ctypes.Structure):
    _fields_ = [
        ("memory", ctypes.c_void_p),
        ("flags", ctypes.c_int),
        ("data", ctypes.c_void_p),
        ("size", ctypes.c_size_t),
        ("maxsize", ctypes.c_size_t),
        ("user_data", ctypes.c_void_p * 4),
        ("_gst_reserved", ctypes.c_void_p * 4),
    ]


def _load_libgst() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("gstreamer-1.0") or "libgstreamer-1.0.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.gst_buffer_map.argtypes = [ctypes.c_void_p, ctypes.POINTER(_GstMapInfo), ctypes.c_int]
    lib.gst_buffer_map.restype = ctypes.c_int
    lib.gst_buffer_unmap.argtypes = [ctypes.c_void_p, ctypes.POINTER(_GstMapInfo)]
    lib.gst_buffer_unmap.restype = None
    lib.gst_mini_object_ref.argtypes = [ctypes.c_void_p]
    lib.gst_mini_object_ref.restype = ctypes.c_void_p
    lib.gst_mini_object_unref.argtypes = [ctypes.c_void_p]
    lib.gst_mini_object_unref.restype = None
    return lib


_LIBGST = _load_libgst()
_GST_MAP_READ = 1
# PyGObject boxed wrapper: PyObject_HEAD (refcount, type) then the C pointer.
_BOXED_POINTER_OFFSET = 2 * ctypes.sizeof(ctypes.c_void_p)


def _buffer_pointer(buffer: Gst.Buffer) -> int | None:
    """The ``GstBuffer*`` inside a PyGObject wrapper, or None if the layout is not as expected."""
    ptr = ctypes.c_void_p.from_address(id(buffer) + _BOXED_POINTER_OFFSET).value
    if not ptr:
        return None
    # GstMiniObject starts with its GType: a cheap proof that ptr is a GstBuffer.
    if ctypes.c_size_t.from_address(ptr).value != hash(Gst.Buffer.__gtype__):
        return None
    return ptr


@dataclass(frozen=True, slots=True)
class VideoLayout:
    """Geometry of a packed 3-byte-per-pixel frame: size, row stride and plane offset."""

    width: int
    height: int
    stride: int
    offset: int = 0

    @classmethod
    def from_caps(cls, caps: Gst.Caps) -> VideoLayout:
        """Layout from negotiated raw-video caps (``video/x-raw,format=BGR``)."""
        info = GstVideo.VideoInfo.new_from_caps(caps)
        if info is None:
            raise ValueError(f"not raw video caps: {caps.to_string()}")
        return cls(int(info.width), int(info.height), int(info.stride[0]), int(info.offset[0]))

    def for_buffer(self, buffer: Gst.Buffer) -> VideoLayout:
        """This layout corrected by the buffer's ``GstVideoMeta`` (decoders may pad rows)."""
        meta = GstVideo.buffer_get_video_meta(buffer)
        if meta is None:
            return self
        return VideoLayout(int(meta.width), int(meta.height), int(meta.stride[0]), int(meta.offset[0]))


class _MappedBuffer:
    """Owns one ``gst_buffer_map`` and a buffer reference; exposes the pixels to NumPy."""

    def __init__(self, lib: ctypes.CDLL, buffer_ptr: int, layout: VideoLayout) -> None:
        self._lib = lib
        self._info = _GstMapInfo()
        self._ptr: int | None = None
        if not lib.gst_buffer_map(buffer_ptr, ctypes.byref(self._info), _GST_MAP_READ):
            raise ValueError("gst_buffer_map failed")
        lib.gst_mini_object_ref(buffer_ptr)
        self._ptr = buffer_ptr
        needed = layout.offset + layout.stride * (layout.height - 1) + layout.width * 3
        if self._info.size < needed:
            self.release()
            raise ValueError(f"buffer of {self._info.size} bytes is too small for {layout}")
        self.__array_interface__: dict[str, Any] = {
            "version": 3,
            "shape": (layout.height, layout.width, 3),
            "typestr": "|u1",
            "strides": (layout.stride, 3, 1),
            "data": (int(self._info.data) + layout.offset, True),  # True: read-only
        }

    def release(self) -> None:
        if self._ptr is not None:
            self._lib.gst_buffer_unmap(self._ptr, ctypes.byref(self._info))
            self._lib.gst_mini_object_unref(self._ptr)
            self._ptr = None

    def __del__(self) -> None:
        self.release()


def _copy_to_array(buffer: Gst.Buffer, layout: VideoLayout) -> np.ndarray:
    data = buffer.extract_dup(0, buffer.get_size())
    flat = np.frombuffer(data, dtype=np.uint8)
    return np.lib.stride_tricks.as_strided(
        flat[layout.offset :],
        shape=(layout.height, layout.width, 3),
        strides=(layout.stride, 3, 1),
        writeable=False,
    )


def buffer_to_array(buffer: Gst.Buffer, layout: VideoLayout, *, zero_copy: bool = True) -> np.ndarray:
    """Pixels of a packed BGR/RGB ``buffer`` as a read-only ``H x W x 3`` uint8 array.

    With ``zero_copy`` the array is a view on the mapped GStreamer memory (see the
    module docstring); otherwise, or when the ctypes path is unavailable, it is a
    view on one copy made by ``extract_dup``.
    """
    layout = layout.for_buffer(buffer)
    if zero_copy and _LIBGST is not None:
        ptr = _buffer_pointer(buffer)
        if ptr is not None:
            return np.asarray(_MappedBuffer(_LIBGST, ptr, layout))
        log.warning("PyGObject boxed layout not recognised; copying frames with extract_dup")
    return _copy_to_array(buffer, layout)
