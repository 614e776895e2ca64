#!/usr/bin/env python3
"""Webhook-to-RAE latency of a running rae-pipeline, with a fake RAE that answers at once.

Starts a fake RAE on --rae-port (point the pipeline's RAE_BASE_URL at it), POSTs --events
memories to the webhook one after another with --concurrency senders, and reports p50/p99 of
(time RAE received the memory - time the 202 arrived) and of the 202 itself. Also samples the
peak RSS of --pid when given. Standard library only.

    RAE_BASE_URL=http://127.0.0.1:18000 RAE_WEBHOOK_SECRET=measure-secret \\
      target/release/rae-pipeline up &
    python3 scripts/measure_latency.py --secret measure-secret --pid $!
"""
import argparse
import json
import socket
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = {}
lock = threading.Lock()


class FakeRae(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes; without this, Nagle and delayed ACKs add
        # 40 ms to every answer and the fake RAE becomes the bottleneck.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        at = time.monotonic()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        event_id = json.loads(body)["metadata"]["event_id"]
        with lock:
            received.setdefault(event_id, at)
        reply = json.dumps({"memory_id": event_id, "message": "stored"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ingress", default="http://127.0.0.1:8080")
    ap.add_argument("--rae-port", type=int, default=18000)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--pid", type=int)
    args = ap.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", args.rae_port), FakeRae)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    peak = [0]
    stop = threading.Event()
    if args.pid:
        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(args.pid))
                time.sleep(0.05)
        threading.Thread(target=sample, daemon=True).start()
        idle = rss_kib(args.pid)

    accepted = {}
    ingress_ms = []

    def send(i):
        body = json.dumps({"content": f"latency probe {i}", "tags": ["measure"]}).encode()
        req = urllib.request.Request(f"{args.ingress}/api/v1/webhooks/memory", data=body,
                                     headers={"X-Webhook-Secret": args.secret, "Content-Type": "application/json"})
        start = time.monotonic()
        with urllib.request.urlopen(req) as r:
            answer = json.loads(r.read())
        done = time.monotonic()
        ingress_ms.append((done - start) * 1000)
        accepted[answer["id"]] = done

    started = time.monotonic()
    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(send, range(args.events)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if all(i in received for i in accepted):
                break
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    stop.set()
    with lock:
        missing = [i for i in accepted if i not in received]
        e2e = [(received[i] - t) * 1000 for i, t in accepted.items() if i in received]
    print(f"events: {len(accepted)} accepted, {len(e2e)} reached RAE, {len(missing)} missing, {elapsed:.2f}s")
    print(f"202 latency ms: p50 {pct(ingress_ms, 50):.2f}  p99 {pct(ingress_ms, 99):.2f}")
    print(f"202 -> RAE ms:  p50 {pct(e2e, 50):.2f}  p99 {pct(e2e, 99):.2f}")
    if args.pid:
        print(f"RSS KiB: idle {idle}, peak {peak[0]}")
    server.shutdown()


if __name__ == "__main__":
    main()
