"""The HTTP detection service behind serve.py: an ASGI app (FastAPI) over one detector, with
dynamic batching of concurrent requests, Prometheus metrics and a browser page."""
