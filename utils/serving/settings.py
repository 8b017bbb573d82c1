"""What a service runs with: :class:`ServeSettings` (serve.py's flags, the options table's
defaults) and who may call it (:func:`access_key`)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, fields
from typing import Any

from utils import options
from utils.cli import UsageError

API_KEY_ENV = "YOLO_LITE_API_KEY"
MODE = "serve"


def _opt(name):
    return options.default(name, MODE)


@dataclass(frozen=True)
class ServeSettings:
    """The service's limits, batching and per-request defaults (see ``serve.py --help``)."""

    host: str = _opt("host")
    port: int = _opt("port")
    max_batch: int = _opt("max_batch")
    max_wait_ms: float = _opt("max_wait_ms")
    max_queue: int = _opt("max_queue")
    max_upload_mb: float = _opt("max_upload_mb")
    request_timeout: float = _opt("request_timeout")
    conf: float = _opt("conf")
    nms_iou: float = _opt("nms_iou")
    max_boxes: int = _opt("max_boxes")
    api_key: str | None = None  # None: the service is open (see access_key)
    quiet: bool = _opt("quiet")

    @classmethod
    def from_args(cls, args: Any, api_key: str | None) -> ServeSettings:
        """The settings of parsed serve.py flags (each field is the flag of its name)."""
        values = {f.name: getattr(args, f.name) for f in fields(cls) if f.name != "api_key"}
        return cls(api_key=api_key, **values)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1e6)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def access_key(host: str, api_key: str | None, no_auth: bool) -> str | None:
    """The key requests must send, or None for an open service.

    A loopback service is open unless a key is given. Any other address needs a key
    (``--api-key`` or ``$YOLO_LITE_API_KEY``) unless ``no_auth`` says, explicitly, that anyone
    who reaches it may use it.
    """
    key = api_key or os.environ.get(API_KEY_ENV) or None
    if key is not None and no_auth:
        raise UsageError("--no-auth and an API key contradict each other: give one of them")
    if key is None and not no_auth and not is_loopback(host):
        raise UsageError(
            f"--host {host} is reachable from other machines: give an API key (--api-key or "
            f"${API_KEY_ENV}), or --no-auth to serve it open"
        )
    return key
