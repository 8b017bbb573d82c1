"""Running the app: the listening socket, uvicorn, the start-up lines and a graceful stop.

SIGTERM (and Ctrl-C) stop accepting connections, let the requests in flight finish (uvicorn's
graceful shutdown), then the batcher finishes its queue; SIGTERM then exits 0.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading

from utils.cli import UsageError
from utils.serving.service import Service
from utils.serving.settings import ServeSettings, is_loopback


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 takes a free one. UsageError when the address
    cannot be used."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise UsageError(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def access_line(settings: ServeSettings, api_key: str | None) -> str:
    if api_key is not None:
        return "access: an API key is required on /v1 and /metrics"
    if is_loopback(settings.host):
        return "access: open, on loopback only (this machine)"
    return f"access: OPEN to anyone who reaches {settings.host} (--no-auth)"


def _announce_when_ready(service: Service) -> None:
    def wait():
        batcher = service.batcher
        while not batcher.ready.wait(0.2):
            if batcher.warm_up_error is not None:
                print(
                    f"error: warm-up failed: {batcher.warm_up_error}", file=sys.stderr, flush=True
                )
                return
        sizes = batcher.batch_sizes
        span = f"{sizes[0]}-{sizes[-1]}" if len(sizes) > 1 else str(sizes[0])
        print(f"ready: batch sizes {span} warmed up in {batcher.warm_up_seconds:.1f} s", flush=True)

    threading.Thread(target=wait, name="announce", daemon=True).start()


def serve(service: Service, api_key: str | None) -> int:
    """Serve until SIGTERM or Ctrl-C; returns the exit status (0 after SIGTERM)."""
    import uvicorn

    from utils.serving.app import create_app

    settings = service.settings
    sock = bind(settings.host, settings.port)
    app = create_app(service, api_key)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=not settings.quiet,
        timeout_graceful_shutdown=int(max(settings.request_timeout, 1.0)) + 5,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    url = url_of(sock)
    print(f"serving {service.detector.describe()}", flush=True)
    print(f"listening on {url} (page {url}/, API docs {url}/docs)", flush=True)
    print(access_line(settings, api_key), flush=True)
    _announce_when_ready(service)
    # uvicorn re-raises the signal that stopped it once it has shut down: SIGTERM then lands
    # here, after the graceful stop, and the process exits 0.
    stopped = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    print("stopped", flush=True)
    return 0
