"""`automm serve` under load: start-up time, the server's memory, and latency and errors of concurrent
clients sending 1-row and 100-row requests, every answer checked against the model's own predict.

    python benchmarks/serve_load.py --model automm_models/imdb_best --dataset imdb_genre_prediction \\
        --requests 2000 --concurrency 8 --workers 2

Bodies are drawn from the test split (40 distinct bodies of each size, cycled); each client keeps its
connection alive, as a client pool does. One JSON record per run is appended to
benchmarks/results/serve.jsonl, naming the commit.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn's workers), from /proc."""
    pids, total = [pid], 0.0
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        pids += [int(x) for x in child.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return round(total, 1)


def post(conn, body: bytes):
    t0 = time.perf_counter()
    conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    return r.status, data, time.perf_counter() - t0


def load(port: int, bodies: list[bytes], expected: list[list], requests: int, concurrency: int) -> dict:
    def client(start: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        out = []
        for i in range(start, requests, concurrency):
            status, data, secs = post(conn, bodies[i % len(bodies)])
            ok = status == 200 and json.loads(data)["predictions"] == expected[i % len(bodies)]
            out.append((ok, secs))
        conn.close()
        return out
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = [r for part in pool.map(client, range(concurrency)) for r in part]
    wall = time.perf_counter() - t0
    lat = np.array([s for _, s in results]) * 1000
    return {"requests": len(results), "concurrency": concurrency, "errors": sum(not ok for ok, _ in results),
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
            "requests_per_s": round(len(results) / wall, 1)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--requests", type=int, default=2000, help="per body size")
    ap.add_argument("--requests-100", type=int, default=None, help="for 100-row bodies (default: --requests)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args()
    from automm import MultimodalPredictor, datasets
    ds = datasets.load(a.dataset, download=False)
    p = MultimodalPredictor.load(a.model)
    p.image_dir = str(ds.folder)
    test = ds.test.drop(columns=[p.label])
    rng = np.random.default_rng(0)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "automm", "serve", "--model", a.model, "--port", str(port),
                               "--workers", str(a.workers)], env=env, cwd=ds.folder, stderr=subprocess.DEVNULL)
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.1)
    startup = time.perf_counter() - t0
    record = {"commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                       text=True).stdout.strip(),
              "model": a.model, "dataset": a.dataset, "workers": a.workers, "cores": os.cpu_count(),
              "startup_s": round(startup, 2), "rss_mb_after_start": tree_rss_mb(server.pid),
              "models_in_blend": [n for n, w in p.weights_.items() if w > 0]}
    for rows, n in ((1, a.requests), (100, a.requests_100 or a.requests)):
        idx = [rng.choice(len(test), rows, replace=len(test) < rows) for _ in range(40)]
        frames = [test.iloc[i].reset_index(drop=True) for i in idx]
        bodies = [f.to_json(orient="records").encode() for f in frames]
        expected = [p.predict(f).tolist() for f in frames]
        record[f"rows_{rows}"] = load(port, bodies, expected, n, a.concurrency)
    record["rss_mb_after_load"] = tree_rss_mb(server.pid)
    server.send_signal(signal.SIGTERM)
    record["exit_status_after_sigterm"] = server.wait(timeout=120)
    print(json.dumps(record))
    with open(HERE / "results" / "serve.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
