"""The service's answers to a request it cannot serve: a status and a one-line reason, sent as
``{"error": reason}`` (the app turns every :class:`RequestError` into that JSON)."""

from __future__ import annotations


class RequestError(Exception):
    """A request answered with ``status`` and a JSON error naming the problem."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> RequestError:
    return RequestError(400, message)


def too_large(message: str) -> RequestError:
    return RequestError(413, message)


def unavailable(message: str, retry_after_s: int = 1) -> RequestError:
    """503 with ``Retry-After``: the client may try again shortly (full queue, warming up)."""
    return RequestError(503, message, {"Retry-After": str(retry_after_s)})
