"""Live sources for the stream tests, on 127.0.0.1 only: an MJPEG-over-HTTP server and an RTSP
server, each playing the frames of a video in real time and each able to be cut mid-stream
and started again on the same port.

Not a test module: tests import it (``from tests.streaming import MjpegServer``).
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

BOUNDARY = "frame"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def video_frames(path: str, count: int | None = None, start: int = 0) -> list:
    """``count`` BGR frames of a video from frame ``start`` on, read with OpenCV."""
    import cv2

    capture = cv2.VideoCapture(path)
    frames = []
    try:
        position = 0
        while count is None or len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            if position >= start:
                frames.append(frame)
            position += 1
    finally:
        capture.release()
    if not frames:
        raise RuntimeError(f"{path}: no frame could be read")
    return frames


def jpeg_frames(frames: list, quality: int = 85) -> list[bytes]:
    import cv2

    encoded = []
    for frame in frames:
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        encoded.append(data.tobytes())
    return encoded


class _Clients:
    """The open client connections of a server, so that a cut can close them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()

    def add(self, connection: socket.socket) -> None:
        with self.lock:
            self.sockets.add(connection)

    def discard(self, connection: socket.socket) -> None:
        with self.lock:
            self.sockets.discard(connection)

    def close_all(self) -> None:
        with self.lock:
            sockets, self.sockets = list(self.sockets), set()
        for connection in sockets:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()


class _Server:
    """What the MJPEG and RTSP servers share: frames paced at ``fps``, a listening socket
    on a fixed port, client connections that :meth:`stop` cuts, counters for the tests."""

    # A small send buffer keeps a client that does not read (a model still being built) from
    # soaking up the clip: the server is held back, as a camera's encoder would drop frames.
    SEND_BUFFER = 64 * 1024

    def __init__(self, frames: list[bytes], fps: float, port: int | None = None) -> None:
        self.frames = frames
        self.fps = float(fps)
        self.port = port or free_port()
        self.clients = _Clients()
        self.condition = threading.Condition()
        self.connections = 0  # clients that started a clip
        self.sent = 0  # frames sent on the latest connection
        self.sent_total = 0  # frames sent on all connections
        self.completed = 0  # clips played to the end
        self.final = False  # stop listening once a clip has been played to the end
        self.live = False  # repeat the clip until the test cuts the stream
        self._running = False

    # -- what a test calls ---------------------------------------------------------------
    def start(self, final: bool = False, live: bool = False) -> None:
        """Listen (again, on the same port); with ``final`` the server stops by itself once a
        client has seen the whole clip, so a reconnecting client finds nobody. With ``live``
        the clip repeats, as a camera's stream would, until :meth:`stop` cuts it: a test that
        cuts once the client has some frames cannot find the clip already over."""
        assert not self._running and not (final and live)
        self.final, self.live = final, live
        self._listen()
        self._running = True

    def stop(self) -> None:
        """Cut mid-stream: stop listening and close every client connection."""
        if not self._running:
            return
        self._running = False
        self._close_listener()
        self.clients.close_all()

    def wait_for(self, predicate, timeout: float) -> bool:
        """Wait until ``predicate(self)`` holds (checked as frames are sent)."""
        with self.condition:
            return self.condition.wait_for(lambda: predicate(self), timeout)

    # -- for the subclasses --------------------------------------------------------------
    def _listen(self) -> None:
        raise NotImplementedError

    def _close_listener(self) -> None:
        raise NotImplementedError

    def _paced(self) -> Iterator[tuple[int, bytes]]:
        """The clip's frames, each no sooner than 1/fps after the one before (a client that
        reads slowly holds the clip back rather than receiving a burst)."""
        with self.condition:
            self.connections += 1
            self.sent = 0
        due = time.monotonic()
        clip = itertools.cycle(self.frames) if self.live else self.frames
        for index, frame in enumerate(clip):
            if self.live and not self._running:
                # Cut: as a closed socket would, so the handler ends without counting a clip.
                raise ConnectionAbortedError("the test cut the stream")
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            yield index, frame
            due = max(due + 1.0 / self.fps, time.monotonic())
            with self.condition:
                self.sent += 1
                self.sent_total += 1
                self.condition.notify_all()

    def _clip_played(self) -> None:
        with self.condition:
            self.completed += 1
            self.condition.notify_all()
        if self.final and self._running:
            # Stop listening before this client's connection closes (which its handler does,
            # after the last bytes): its reconnection attempts are refused.
            self._running = False
            self._close_listener()


# ---------------------------------------------------------------------------------- MJPEG
class _MjpegHandler(http.server.BaseHTTPRequestHandler):
    server: _HttpServer

    def do_GET(self) -> None:
        owner = self.server.owner  # any path: FFmpeg finds the format from the content
        owner.clients.add(self.connection)
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, owner.SEND_BUFFER)
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for _, jpeg in owner._paced():
                self.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )
                self.wfile.flush()
            owner._clip_played()
        except OSError:
            pass  # the client went away, or the test cut the stream
        finally:
            owner.clients.discard(self.connection)
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:
        pass


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # the same port again right after a cut
    owner: MjpegServer


class MjpegServer(_Server):
    """``multipart/x-mixed-replace`` JPEG frames at ``url``, as IP cameras serve them.

    Every connection plays the clip from its first frame at ``fps``, then closes."""

    path = "/stream.mjpg"

    def __init__(self, frames: list[bytes], fps: float, port: int | None = None) -> None:
        super().__init__(frames, fps, port)
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def _listen(self) -> None:
        httpd = _HttpServer(("127.0.0.1", self.port), _MjpegHandler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _close_listener(self) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()  # a handler thread may call this: serve_forever runs on another
        httpd.server_close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)


# ----------------------------------------------------------------------------------- RTSP
def ffmpeg_missing() -> str | None:
    """Why :func:`h264_access_units` (and so :class:`RtspServer`) cannot run; None when it can."""
    if shutil.which("ffmpeg") is None:
        return "needs the ffmpeg command (apt-get install ffmpeg; .ci/run installs it)"
    return None


def h264_access_units(video: str, folder: str, frames: int, size: tuple[int, int]) -> list:
    """The first ``frames`` frames of ``video`` encoded by ffmpeg as H.264 (Annex B, parameter
    sets before every keyframe), split into access units: a list of NAL unit lists."""
    path = os.path.join(folder, "clip.h264")
    width, height = size
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            video,
            "-frames:v",
            str(frames),
            "-an",
            "-vf",
            f"scale={width}:{height}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "25",
            "-bf",
            "0",
            "-x264-params",
            "repeat-headers=1",
            "-f",
            "h264",
            path,
        ],
        check=True,
        timeout=60,
        capture_output=True,
    )
    with open(path, "rb") as f:
        return _split_access_units(f.read())


def _nal_units(stream: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (start codes removed)."""
    starts = []
    i = stream.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = stream.find(b"\x00\x00\x01", i + 3)
    units = []
    for n, start in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(stream)
        unit = stream[start:end].rstrip(b"\x00")  # a 4-byte start code's leading zero
        if unit:
            units.append(unit)
    return units


def _split_access_units(stream: bytes) -> list[list[bytes]]:
    """Group NAL units into frames: a new frame starts at an access unit delimiter, a parameter
    set or SEI after a slice, or a slice whose first_mb_in_slice is 0 (its first bit set)."""
    frames: list[list[bytes]] = []
    current: list[bytes] = []
    seen_slice = False
    for unit in _nal_units(stream):
        kind = unit[0] & 0x1F
        is_slice = kind in (1, 5)
        first_slice = is_slice and len(unit) > 1 and unit[1] & 0x80
        if seen_slice and (kind in (6, 7, 8, 9) or first_slice):
            frames.append(current)
            current, seen_slice = [], False
        current.append(unit)
        seen_slice = seen_slice or is_slice
    if current:
        frames.append(current)
    return frames


class RtspServer(_Server):
    """A minimal RTSP server (RFC 2326) for one H.264 track over TCP (RTP interleaved in the
    RTSP connection, RFC 6184 packets: single NAL units and FU-A fragments).

    ffmpeg encodes the frames (:func:`h264_access_units`); this class speaks the protocol,
    because ffmpeg itself cannot serve RTSP to a player (its ``-rtsp_flags listen`` is for
    receiving a stream, not for sending one). Clients asking for UDP are told to use TCP
    (461), as FFmpeg's client then does by itself. Every PLAY sends the clip from its first
    frame at ``fps``, then a RTCP BYE, then the connection closes."""

    MAX_PAYLOAD = 1400

    def __init__(self, access_units: list, fps: float, port: int | None = None) -> None:
        super().__init__(access_units, fps, port)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(4)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def _close_listener(self) -> None:
        listener, thread = self._listener, self._thread
        self._listener = self._thread = None
        if listener is None:
            return
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # stopped
            self.clients.add(connection)
            threading.Thread(target=self._session, args=(connection,), daemon=True).start()

    def _session(self, connection: socket.socket) -> None:
        try:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.SEND_BUFFER)
            reader = connection.makefile("rb")
            while True:
                request = self._request(reader)
                if request is None:
                    return
                method, headers = request
                if self._answer(connection, method, headers):
                    self._play(connection)
                    return
        except OSError:
            pass
        finally:
            self.clients.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()

    @staticmethod
    def _request(reader) -> tuple[str, dict] | None:
        line = reader.readline()
        while line in (b"\r\n", b"\n"):
            line = reader.readline()
        if not line:
            return None
        method = line.decode("latin-1").split(" ", 1)[0]
        headers = {}
        while True:
            header = reader.readline().decode("latin-1").strip()
            if not header:
                break
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", 0) or 0)
        if length:
            reader.read(length)
        return method, headers

    def _answer(self, connection: socket.socket, method: str, headers: dict) -> bool:
        """Reply to one request; True when it was PLAY (the clip follows)."""
        cseq = headers.get("cseq", "0")
        extra: list[str] = []
        body = b""
        status = "200 OK"
        if method == "OPTIONS":
            extra.append("Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")
        elif method == "DESCRIBE":
            body = (
                "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                "a=fmtp:96 packetization-mode=1\r\n"
                f"a=framerate:{self.fps:g}\r\na=control:track0\r\n"
            ).encode()
            extra += [
                "Content-Type: application/sdp",
                f"Content-Base: {self.url}/",
                f"Content-Length: {len(body)}",
            ]
        elif method == "SETUP":
            transport = headers.get("transport", "")
            if "RTP/AVP/TCP" not in transport:
                status = "461 Unsupported Transport"
            else:
                extra += ["Transport: RTP/AVP/TCP;unicast;interleaved=0-1", "Session: 1"]
        elif method == "PLAY":
            extra += ["Session: 1", "Range: npt=0.000-"]
        elif method != "TEARDOWN":
            status = "405 Method Not Allowed"
        head = "".join(f"{line}\r\n" for line in [f"RTSP/1.0 {status}", f"CSeq: {cseq}", *extra])
        connection.sendall((head + "\r\n").encode() + body)
        return method == "PLAY" and status.startswith("200")

    def _play(self, connection: socket.socket) -> None:
        sequence = 0
        timestamp = 0
        for index, units in self._paced():
            timestamp = int(index * 90000 / self.fps)
            packets = [p for unit in units for p in self._packets(unit)]
            for n, payload in enumerate(packets):
                marker = 0x80 if n == len(packets) - 1 else 0
                header = bytes([0x80, marker | 96]) + (
                    sequence.to_bytes(2, "big")
                    + timestamp.to_bytes(4, "big")
                    + (0x12345678).to_bytes(4, "big")
                )
                sequence = (sequence + 1) & 0xFFFF
                rtp = header + payload
                connection.sendall(b"$\x00" + len(rtp).to_bytes(2, "big") + rtp)
        # RTCP BYE on the control channel: the stream ended.
        bye = bytes([0x81, 203, 0, 1]) + (0x12345678).to_bytes(4, "big")
        connection.sendall(b"$\x01" + len(bye).to_bytes(2, "big") + bye)
        self._clip_played()
        # Close gently: what the client sent meanwhile (RTCP reports, TEARDOWN) is read, or
        # closing would reset the connection and lose the clip's last packets.
        connection.shutdown(socket.SHUT_WR)
        connection.settimeout(2.0)
        with contextlib.suppress(OSError):
            while connection.recv(65536):
                pass

    def _packets(self, unit: bytes) -> list[bytes]:
        if len(unit) <= self.MAX_PAYLOAD:
            return [unit]
        header, body = unit[0], unit[1:]
        indicator = (header & 0xE0) | 28  # FU-A
        chunks = [body[i : i + self.MAX_PAYLOAD] for i in range(0, len(body), self.MAX_PAYLOAD)]
        packets = []
        for n, chunk in enumerate(chunks):
            flags = (0x80 if n == 0 else 0) | (0x40 if n == len(chunks) - 1 else 0)
            packets.append(bytes([indicator, flags | (header & 0x1F)]) + chunk)
        return packets
