"""A real serve.py process for the service tests: started on a free loopback port (``--port 0``,
the port read from its start-up line), ready once /readyz says so, stopped with SIGTERM.

Not a test module: tests import it (``from tests.serving import ServiceProcess``).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import httpx

from tests.conftest import ROOT

START_TIMEOUT_S = 180.0


class ServiceProcess:
    """``with ServiceProcess([...flags]) as service: service.post(...)``"""

    def __init__(self, flags: list[str], env: dict | None = None) -> None:
        self.flags = list(flags)
        self.env = env
        self.lines: list[str] = []
        self.url = ""
        self.process: subprocess.Popen | None = None

    def start(self) -> ServiceProcess:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(self.env or {}))
        command = [sys.executable, os.path.join(ROOT, "serve.py"), "--port", "0", *self.flags]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.url:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            except queue.Empty:
                self.stop()
                raise AssertionError(f"serve.py did not start: {self.output}") from None
            if line is None:
                raise AssertionError(f"serve.py exited: {self.output}")
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                self.url = found.group(1)
        self.wait_ready(deadline)
        return self

    def _read(self, lines: queue.Queue) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            lines.put(line)
        lines.put(None)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"serve.py exited: {self.output}")
            time.sleep(0.2)
        raise AssertionError(f"serve.py never became ready: {self.output}")

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 60), **kwargs)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit status."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def detect(client: httpx.Client, path: str, raw: bool = False, **params) -> httpx.Response:
    """POST one image file to /v1/detect, as a multipart upload or a raw body."""
    data = open(path, "rb").read()
    if raw:
        return client.post("/v1/detect", params=params, content=data)
    name = os.path.basename(path)
    return client.post("/v1/detect", params=params, files={"image": (name, data, "image/jpeg")})


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 1.0


def assert_same_detections(got: list[dict], expected: list[dict], where: str = "") -> None:
    """Classes exact, scores within 1e-4, boxes with IoU above 0.999, in the same order."""
    assert len(got) == len(expected), (where, got, expected)
    for g, e in zip(got, expected):
        assert (g["class"], g["class_id"]) == (e["class"], e["class_id"]), (where, g, e)
        assert abs(g["score"] - e["score"]) < 1e-4, (where, g, e)
        assert box_iou(g["box"], e["box"]) > 0.999, (where, g, e)
