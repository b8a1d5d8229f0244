"""The web app under load on loopback: latency of one client, then throughput and errors of many
concurrent clients, for the TFLite path and the Keras path.

    python -m bench.bench_app [--clients 50] [--seconds 60] [--image PATH] [--cnn models/cnn]

Starts `python -m skinlab.app` on a free port (after `make run`), posts one image of the default
data at its own size, prints a Markdown table (requests/s, p50/p95/p99 latency, errors). Asserts
nothing: the figures go in the README.
"""
from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def multipart(data: bytes, name: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def wait_ready(port: int, process, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the app exited with {process.returncode} (run `make run` first?)")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("the app did not start")


def client_loop(port: int, path: str, body: bytes, ctype: str, stop: float, out: list, errors: list) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < stop:
        start = time.perf_counter()
        try:
            connection.request("POST", f"/api/predict?path={path}&masks=false", body, {"Content-Type": ctype})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                errors.append(response.status)
            else:
                out.append(time.perf_counter() - start)
        except OSError as error:
            errors.append(type(error).__name__)
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def run(port: int, path: str, body: bytes, ctype: str, clients: int, seconds: float) -> dict:
    latencies, errors = [], []
    stop = time.monotonic() + seconds
    threads = [threading.Thread(target=client_loop, args=(port, path, body, ctype, stop, latencies, errors))
               for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {"rps": len(latencies) / elapsed, "p50": np.percentile(ms, 50), "p95": np.percentile(ms, 95),
            "p99": np.percentile(ms, 99), "n": len(latencies), "errors": len(errors)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--single-seconds", type=float, default=20, help="how long the one-client latency run lasts")
    parser.add_argument("--image", type=Path, help="default: the first test image of data/split")
    parser.add_argument("--cnn", default="models/cnn")
    args = parser.parse_args(argv)
    if args.image is None:
        import pandas as pd

        first = pd.read_csv("data/split/test.csv").iloc[0]
        args.image = Path("data/raw") / first["image"]
    body, ctype = multipart(args.image.read_bytes(), args.image.name)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "skinlab.app", "--port", str(port), "--cnn", args.cnn],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, process)
        print(f"{args.image} ({args.image.stat().st_size} bytes), {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")
        print("| path | clients | seconds | requests/s | p50 ms | p95 ms | p99 ms | requests | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for path in ("tflite", "keras"):
            run(port, path, body, ctype, 1, 3)  # warm up (traces, caches)
            for clients, seconds in ((1, args.single_seconds), (args.clients, args.seconds)):
                r = run(port, path, body, ctype, clients, seconds)
                print(f"| {path} | {clients} | {seconds:g} | {r['rps']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} "
                      f"| {r['p99']:.1f} | {r['n']} | {r['errors']} |", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
