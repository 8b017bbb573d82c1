"""Video sources: files, cameras, and rtsp:// or http(s):// streams, all read by OpenCV.

A reader thread decodes ahead of the model, so decoding overlaps detection. Files are read
frame by frame (``all``); cameras and streams by default keep only the newest frame
(``latest``), so a model slower than the camera stays at real time and the frames it had
no time for are counted as dropped. A camera or stream that stops delivering is reopened with
back-off, up to ``--reconnect`` times, each drop reported; a file frame that cannot be decoded
is reported by number and skipped.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from utils.inference.sources import (
    Frame,
    FrameSource,
    SourceError,
    SourceSettings,
    register_source,
)

VIDEO_EXTENSIONS = (
    ".mp4",
    ".avi",
    ".mov",
    ".mkv",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".3gp",
    ".ts",
)
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://")
# A file that fails this many reads in a row has ended (or is broken beyond use).
MAX_BAD_FRAMES_IN_A_ROW = 25
# How long opening or reading a stream may block before it counts as lost.
STREAM_TIMEOUT_MS = 5000
# Frame rates outside this range are a container's nonsense; 25 fps is assumed instead.
_PLAUSIBLE_FPS = (1.0, 240.0)
# Back-off between reconnection attempts: doubling from the first, capped.
RECONNECT_FIRST_WAIT_S = 0.5
RECONNECT_MAX_WAIT_S = 8.0


def _open_capture(target: Any, stream: bool = False) -> Any:
    import cv2

    if os.environ.get("OPENCV_LOG_LEVEL", "").upper() == "OFF":
        # OpenCV's own log is off (predict.py turns it off), yet FFmpeg would still print its
        # errors ('Connection refused'...) beside ours: quiet it too. Read at the first open.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if stream:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            STREAM_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            STREAM_TIMEOUT_MS,
        ]
        capture = cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)
    else:
        capture = cv2.VideoCapture(target)
    if capture.isOpened():
        return capture
    capture.release()
    return None


def _number_list(numbers: list[int], shown: int = 10) -> str:
    text = ", ".join(str(n) for n in numbers[:shown])
    return text + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


class CaptureSource(FrameSource):
    """The frames of one ``cv2.VideoCapture``, read on a thread."""

    is_video = True
    is_stream = False

    def __init__(self, text: str, settings: SourceSettings) -> None:
        import cv2

        super().__init__(self.display_name(text))
        self.settings = settings
        self.target = self.capture_target(text)
        self.capture = _open_capture(self.target, self.is_stream)
        if self.capture is None:
            raise SourceError(self.cannot_open_message())
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.rate = fps if fps and _PLAUSIBLE_FPS[0] <= fps <= _PLAUSIBLE_FPS[1] else 25.0
        self.fps = self.rate
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        # A video file served over HTTP knows its length: it is read like a file, and its end
        # is the end, not a lost connection.
        self.live = self.live and count <= 0
        self.mode = settings.stream_mode or ("latest" if self.live else "all")
        self.batchable = self.mode == "all"
        self.frame_size = (
            int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        stride = self.stride = max(int(settings.vid_stride), 1)
        self.total = -(-count // stride) if count > 0 and not self.live else None
        self.stats = {"dropped": 0, "skipped": [], "reconnects": 0, "lost": False}
        self._stop = threading.Event()

    # -- what subclasses say -------------------------------------------------------------
    def display_name(self, text: str) -> str:
        return text

    def capture_target(self, text: str) -> Any:
        return text

    def cannot_open_message(self) -> str:
        return f"{self.name}: cannot open as a video (unsupported or corrupt file)"

    # -- reading -------------------------------------------------------------------------
    def frames(self) -> Iterator[Frame]:
        slots: queue.Queue = queue.Queue(maxsize=1 if self.mode == "latest" else 8)
        reader = threading.Thread(target=self._read_into, args=(slots,), daemon=True)
        reader.start()
        try:
            while True:
                item = slots.get()
                if item is None:
                    return
                yield item
        finally:
            self._stop.set()
            reader.join(timeout=10)

    def close(self) -> None:
        self._stop.set()
        if self.capture is not None:
            self.capture.release()

    def _read_into(self, slots: queue.Queue) -> None:
        try:
            for frame in self._decoded():
                if self.mode == "latest":
                    self._replace(slots, frame)
                else:
                    self._put(slots, frame)
                if self._stop.is_set():
                    break
        finally:
            self._put(slots, None, force=True)

    def _put(self, slots: queue.Queue, item: Any, force: bool = False) -> None:
        while not self._stop.is_set() or force:
            try:
                slots.put(item, timeout=0.1)
                return
            except queue.Full:
                # Only a consumer that has stopped gives up the frames still queued: the end
                # marker waits behind them while they are being taken.
                if force and self._stop.is_set():
                    self._drain(slots)

    def _replace(self, slots: queue.Queue, frame: Frame) -> None:
        # The newest frame replaces one the model had no time for.
        self.stats["dropped"] += self._drain(slots)
        slots.put(frame)

    @staticmethod
    def _drain(slots: queue.Queue) -> int:
        dropped = 0
        while True:
            try:
                if slots.get_nowait() is not None:
                    dropped += 1
            except queue.Empty:
                return dropped

    def _decoded(self) -> Iterator[Frame]:
        """Frames as decoded, every ``vid_stride``-th; broken frames reported and skipped."""
        import cv2

        stride = max(int(self.settings.vid_stride), 1)
        position, failed_in_a_row = 0, []
        started = time.monotonic()
        while not self._stop.is_set():
            wanted = position % stride == 0
            if wanted:
                ok, bgr = self.capture.read()
            else:
                ok, bgr = self.capture.grab(), None
            if not ok:
                if self.live:
                    if not self._reconnect():
                        return
                    continue
                # Failures count as skipped frames only once a later frame is read: the
                # failures at the end are the end of the file.
                failed_in_a_row.append(position)
                position += 1
                if len(failed_in_a_row) >= MAX_BAD_FRAMES_IN_A_ROW:
                    return
                continue
            self._report_skipped(failed_in_a_row)
            failed_in_a_row = []
            if wanted:
                timestamp = time.monotonic() - started if self.live else position / self.rate
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                yield Frame(rgb, self.name, position, timestamp=timestamp)
            position += 1

    def _report_skipped(self, numbers: list[int]) -> None:
        for number in numbers:
            self.settings.log(f"{self.name}: frame {number} could not be decoded, skipped")
        self.stats["skipped"] += numbers

    def _reconnect(self) -> bool:
        """Reopen a dropped camera or stream with back-off; False once the attempts run out."""
        self.capture.release()
        attempts = max(int(self.settings.reconnect), 0)
        wait = RECONNECT_FIRST_WAIT_S
        for attempt in range(1, attempts + 1):
            self.settings.log(
                f"{self.name}: connection lost; reconnecting ({attempt} of {attempts}) in "
                f"{wait:g} s"
            )
            if self._stop.wait(wait):
                return False
            capture = _open_capture(self.target, self.is_stream)
            if capture is not None:
                self.capture = capture
                self.stats["reconnects"] += 1
                self.settings.log(f"{self.name}: reconnected")
                return True
            wait = min(wait * 2, RECONNECT_MAX_WAIT_S)
        self.stats["lost"] = True
        self.settings.log(
            f"{self.name}: connection lost"
            + (
                f" and not regained after {attempts} attempt{'s' if attempts != 1 else ''}"
                if attempts
                else ""
            )
        )
        return False

    def summary(self) -> str:
        """What went wrong while reading, for the run's closing line ('' when nothing)."""
        parts = []
        skipped = self.stats["skipped"]
        if skipped:
            plural = "s" if len(skipped) != 1 else ""
            listed = _number_list(skipped)
            parts.append(f"{len(skipped)} unreadable frame{plural} skipped: {listed}")
        if self.stats["dropped"]:
            dropped = self.stats["dropped"]
            parts.append(f"{dropped} frames dropped to keep up (--stream-mode latest)")
        if self.stats["reconnects"]:
            times = self.stats["reconnects"]
            parts.append(f"reconnected {times} time{'s' if times != 1 else ''}")
        if self.stats["lost"]:
            parts.append("the stream ended or was lost")
        return "; ".join(parts)


@register_source
class VideoFile(CaptureSource):
    kind = "video"

    @classmethod
    def matches(cls, text: str) -> bool:
        return os.path.splitext(text)[1].lower() in VIDEO_EXTENSIONS and os.path.exists(text)


@register_source
class Camera(CaptureSource):
    kind = "camera"
    live = True

    @classmethod
    def matches(cls, text: str) -> bool:
        return text.isdigit() and not os.path.exists(text)

    def display_name(self, text: str) -> str:
        return f"camera:{int(text)}"

    def capture_target(self, text: str) -> Any:
        return int(text)

    def cannot_open_message(self) -> str:
        return f"camera {self.target} cannot be opened (no such camera, or it is busy)"

    @property
    def output_stem(self) -> str:
        return f"camera{self.target}"


@register_source
class Stream(CaptureSource):
    """rtsp://, http(s):// (MJPEG, HLS, a video served over HTTP), rtmp:// through FFmpeg."""

    kind = "stream"
    live = True
    is_stream = True

    @classmethod
    def matches(cls, text: str) -> bool:
        return text.lower().startswith(STREAM_SCHEMES)

    def cannot_open_message(self) -> str:
        return (
            f"{self.name}: cannot open the stream (nothing answered within "
            f"{STREAM_TIMEOUT_MS // 1000} s, or it is not a video stream)"
        )

    @property
    def output_stem(self) -> str:
        from urllib.parse import urlparse

        parsed = urlparse(self.name)
        stem = os.path.splitext(os.path.basename(parsed.path))[0]
        host = (parsed.hostname or "stream").replace(".", "_")
        return f"{host}_{stem}" if stem else host
