#!/usr/bin/env python3
"""Writer scale-out: how fast K writer processes drain the same backlog into a RAE that takes
--rae-ms per write (a real RAE computes embeddings), for K = 1 and 2 (or --writers).

Starts its own nats-server (free port, temporary store), a fake RAE, `rae-pipeline ingress` and
`enricher`; loads --events events; then starts K `writer` processes on the one durable consumer
and times the drain. Standard library only; needs target/release/rae-pipeline and nats-server.

    cargo build --release && python3 scripts/measure_scaleout.py
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "rae-pipeline")
SECRET = "scaleout-secret"
stored = set()
lock = threading.Lock()
rae_delay = 0.02


class FakeRae(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(rae_delay)
        event_id = json.loads(body)["metadata"]["event_id"]
        with lock:
            stored.add(event_id)
        reply = json.dumps({"memory_id": event_id, "message": "stored"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nats_server():
    return os.environ.get("NATS_SERVER_BIN") or shutil.which("nats-server") or "/usr/sbin/nats-server"


def metric(port, name):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def run(writers, events, concurrency):
    store = tempfile.mkdtemp()
    nats_port = free_port()
    nats = subprocess.Popen([nats_server(), "-a", "127.0.0.1", "-p", str(nats_port), "-js", "-sd", store],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rae = ThreadingHTTPServer(("127.0.0.1", 0), FakeRae)
    threading.Thread(target=rae.serve_forever, daemon=True).start()
    stored.clear()
    workdir = tempfile.mkdtemp()
    with open(os.path.join(workdir, "integrations.yaml"), "w") as f:
        f.write(f"ingress:\n  rate_limit: {{ per_second: 0 }}\nwriter:\n  concurrency: {concurrency}\n")
    env = dict(os.environ, NATS_URL=f"nats://127.0.0.1:{nats_port}",
               RAE_BASE_URL=f"http://127.0.0.1:{rae.server_address[1]}", RAE_WEBHOOK_SECRET=SECRET,
               RUST_LOG="warn")
    procs = []

    def start(role):
        port, metrics = free_port(), free_port()
        e = dict(env, RAE_PIPELINE_LISTEN=f"127.0.0.1:{port}", RAE_PIPELINE_METRICS_LISTEN=f"127.0.0.1:{metrics}")
        procs.append(subprocess.Popen([os.path.abspath(BIN), role], cwd=workdir, env=e,
                                      stdout=subprocess.DEVNULL))
        return port, metrics

    try:
        ingress, _ = start("ingress")
        _, enricher_metrics = start("enricher")
        deadline = time.time() + 30
        while metric(enricher_metrics, "rae_pipeline_breaker_open") is None and time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{ingress}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)

        def send(i):
            req = urllib.request.Request(f"http://127.0.0.1:{ingress}/api/v1/webhooks/memory",
                                         data=json.dumps({"content": f"scale-out {i}"}).encode(),
                                         headers={"X-Webhook-Secret": SECRET})
            urllib.request.urlopen(req, timeout=10).read()

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(send, range(events)))
        while (metric(enricher_metrics, "rae_pipeline_events_enriched_total") or 0) < events:
            time.sleep(0.05)
        started = time.monotonic()
        for _ in range(writers):
            start("writer")
        while len(stored) < events:
            time.sleep(0.01)
        return events / (time.monotonic() - started)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        nats.terminate()
        nats.wait()
        rae.shutdown()
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    global rae_delay
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rae-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8, help="writer.concurrency of each writer")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    rae_delay = args.rae_ms / 1000
    results = {k: run(k, args.events, args.concurrency) for k in args.writers}
    base = results[args.writers[0]]
    print(f"{args.events} events, RAE {args.rae_ms:g} ms per write, writer.concurrency {args.concurrency}")
    for k, rate in results.items():
        print(f"  {k} writer(s): {rate:8.0f} events/s  ({rate / base:.2f}x)")


if __name__ == "__main__":
    main()
