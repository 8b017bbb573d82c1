"""serve.py under load: requests/s, latency percentiles, errors by status, batch sizes and the
service's peak memory, with batching on and off, for the Keras model and its TFLite export.

    python benchmarks/bench_serve.py                      # 1, 8, 32, 128 clients, both formats
    python benchmarks/bench_serve.py --clients 1 32 --formats tflite --requests 64

mobilenetv1-0.25 with the VOC weights in ../shared at 416. Each configuration starts serve.py as a
user does (its own process, on a free loopback port, ``--quiet``), waits for /readyz, then for
each client count runs that many concurrent clients (asyncio + httpx) until ``--requests``
answers came back (at least 4 per client), each client on its own keep-alive connection sending
raw JPEG bodies of the voc_mini and raccoon test images in turn; a client answered 503 waits the
``Retry-After`` it was given, as a well-behaved client does. "Batching off" is ``--max-batch 1``;
"on" is serve.py's defaults. The clients share the machine with the service (loopback): on 2
cores, what they spend is taken from it, the same for every row. Batch sizes come from the
service's /metrics (the difference over each run); peak RSS is the service's VmHWM at the end.
"""

import argparse
import asyncio
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import httpx
import numpy as np

from tests.serving import ServiceProcess

SHARED = os.path.join(os.path.dirname(ROOT), "shared")
WEIGHTS = os.path.join(SHARED, "weights", "yolov4_mobilenet_v1_025_voc.h5")


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--requests", type=int, default=96, help="answers per client count")
    parser.add_argument("--formats", nargs="+", default=["keras", "tflite"])
    parser.add_argument("--input-size", default="416")
    parser.add_argument(
        "--json", default=None, help="also write the figures here (and the table beside, .md)"
    )
    parser.add_argument(
        "--serve-flags",
        default="",
        help="more serve.py flags for every row, e.g. '--max-queue 256'",
    )
    parser.add_argument("--batching", nargs="+", default=["on", "off"], choices=["on", "off"])
    return parser.parse_args()


def test_images():
    paths = sorted(
        glob.glob(os.path.join(SHARED, "datasets", "voc_mini", "*", "*", "JPEGImages", "*"))
    )
    paths = [p for p in paths if "2007_000027" not in p]  # truncated on purpose
    raccoon = os.path.join(SHARED, "datasets", "raccoon", "VOC2007")
    ids = open(os.path.join(raccoon, "ImageSets", "Main", "test.txt")).read().split()[:16]
    paths += [os.path.join(raccoon, "JPEGImages", f"{i}.jpg") for i in ids]
    return [open(p, "rb").read() for p in paths]


def export_tflite(folder, size):
    command = [sys.executable, os.path.join(ROOT, "export.py"), "--backbone", "mobilenetv1"]
    command += ["--alpha", "0.25", "--weights", WEIGHTS, "--input-size", size]
    command += ["--format", "tflite", "--out", folder]
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    return next(glob.iglob(os.path.join(folder, "*.tflite")))


def batch_histogram(url):
    from prometheus_client.parser import text_string_to_metric_families

    counts = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            if sample.name == "yolo_batch_size_bucket":
                counts[sample.labels["le"]] = sample.value
    return counts


def histogram_text(before, after):
    """Runs per batch size over a run, from the cumulative buckets: '1:12 2:3 8:40'."""
    deltas = {k: after[k] - before.get(k, 0) for k in after}
    bounds = sorted((float(k), k) for k in deltas if k != "+Inf")
    parts, below = [], 0.0
    for bound, key in bounds:
        runs = deltas[key] - below
        below = deltas[key]
        if runs:
            parts.append(f"{bound:g}:{runs:g}")
    return " ".join(parts)


async def drive(url, bodies, clients, total):
    latencies, statuses = [], {}
    sent = 0
    cpu_start = time.process_time()

    async def client_loop(client, k):
        nonlocal sent
        while sent < total:
            sent += 1
            body = bodies[(sent + k) % len(bodies)]
            start = time.perf_counter()
            try:
                answer = await client.post("/v1/detect", content=body)
                status = answer.status_code
            except httpx.TransportError as exc:
                status = type(exc).__name__
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                latencies.append(time.perf_counter() - start)
            elif status == 503:  # a well-behaved client waits as told
                await asyncio.sleep(float(answer.headers.get("retry-after", 1)))

    # One connection per client, each in its own httpx client: one shared pool makes the
    # clients queue for its connections (seconds at 128 clients) and that is not the service.
    pool = [httpx.AsyncClient(base_url=url, timeout=120) for _ in range(clients)]
    start = time.perf_counter()
    await asyncio.gather(*(client_loop(client, k) for k, client in enumerate(pool)))
    seconds = time.perf_counter() - start
    for client in pool:
        await client.aclose()
    statuses["client_cpu_share"] = (time.process_time() - cpu_start) / seconds
    return latencies, statuses, seconds


def peak_rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_config(name, flags, bodies, args):
    rows = []
    with ServiceProcess(flags + ["--quiet"]) as service:
        for clients in args.clients:
            total = max(args.requests, 4 * clients)
            before = batch_histogram(service.url)
            latencies, statuses, seconds = asyncio.run(drive(service.url, bodies, clients, total))
            client_cpu = statuses.pop("client_cpu_share")
            after = batch_histogram(service.url)
            ms = (
                np.percentile(np.asarray(latencies) * 1000, [50, 95, 99])
                if latencies
                else [np.nan] * 3
            )
            row = {
                "config": name,
                "clients": clients,
                "requests": total,
                "req_s": statuses.get(200, 0) / seconds,
                "p50_ms": float(ms[0]),
                "p95_ms": float(ms[1]),
                "p99_ms": float(ms[2]),
                "errors": {str(k): v for k, v in statuses.items() if k != 200},
                "batches": histogram_text(before, after),
                "peak_rss_mb": peak_rss_mb(service.process.pid),
                "client_cores": client_cpu,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def table(rows):
    lines = [
        (
            "| model, batching | clients | req/s | p50 ms | p95 ms | p99 ms | errors "
            "| runs per batch size | peak RSS MB |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
        lines.append(
            f"| {r['config']} | {r['clients']} | {r['req_s']:.1f} | {r['p50_ms']:.0f} | "
            f"{r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {errors} | {r['batches']} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main():
    args = parse_args()
    bodies = test_images()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        models = {
            "keras": ["--backbone", "mobilenetv1", "--alpha", "0.25", "--weights", WEIGHTS],
        }
        if "tflite" in args.formats:
            models["tflite"] = ["--weights", export_tflite(folder, args.input_size)]
        for fmt in args.formats:
            for batching in args.batching:
                extra = ["--max-batch", "1"] if batching == "off" else []
                extra += args.serve_flags.split()
                flags = models[fmt] + ["--input-size", args.input_size] + extra
                if fmt != "keras":
                    flags = models[fmt] + extra  # the export has its own input size
                rows += run_config(f"{fmt}, batching {batching}", flags, bodies, args)
    text = table(rows)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
        with open(os.path.splitext(args.json)[0] + ".md", "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
