#!/usr/bin/env python3
"""Measures the ingress' memory under a flood of slow request bodies (docs/benchmarks.md,
"Memory under a body flood"): many connections each announce a 1 MiB body, send part of it and
stall, the attack of issue 21. Reports the resident memory (RSS) of `rae-pipeline ingress`
before, at its peak while the connections are held, and after they are gone, with what the
attacker's connections were answered.

    python3 scripts/measure_body_flood.py                       # target/release/rae-pipeline
    python3 scripts/measure_body_flood.py --connections 1000 --sent-kib 256

Scenarios, each against a fresh ingress and nats-server:
  webhook-forged   a signed-webhook route with a forged signature: the body must be read to
                   check it, so this is what `ingress.max_inflight_body_bytes` bounds
  memories-nokey   the memories API without credentials: refused from the headers
  memories-key     the memories API with a valid API key (an authenticated client misbehaving)
"""

import argparse
import hashlib
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

API_KEY = "rpk_flood_measure_key_3e9a7c1b"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_port(port, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"nothing listens on {port} after {seconds} s")


def request_head(scenario, length):
    if scenario == "webhook-forged":
        path, auth = "/api/v1/webhooks/memory", (
            f"X-Webhook-Timestamp: {int(time.time())}\r\n"
            f"X-Webhook-Signature: sha256={'0' * 64}\r\n")
    elif scenario == "memories-nokey":
        path, auth = "/api/v1/memories", ""
    else:
        path, auth = "/api/v1/memories", f"Authorization: Bearer {API_KEY}\r\n"
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n{auth}\r\n").encode()


def flood(args, scenario, port, pid):
    head = request_head(scenario, 1024 * 1024)
    chunk = b"x" * (args.sent_kib * 1024)
    socks, answers = [], {}
    sel = selectors.DefaultSelector()
    for _ in range(args.connections):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
        sel.register(s, selectors.EVENT_READ)
    pending = {s: head + chunk for s in socks}
    peak = rss_kib(pid)
    deadline = time.monotonic() + args.hold_secs
    while time.monotonic() < deadline:
        for s, data in list(pending.items()):
            try:
                sent = s.send(data)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                del pending[s]
                continue
            if sent == len(data):
                del pending[s]
            else:
                pending[s] = data[sent:]
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                reply = s.recv(4096)
            except OSError:
                reply = b""
            status = reply.split(b" ", 2)[1].decode() if reply.startswith(b"HTTP/1.1 ") else "closed"
            answers[status] = answers.get(status, 0) + 1
            sel.unregister(s)
            pending.pop(s, None)
        peak = max(peak, rss_kib(pid))
    held = len(sel.get_map())
    for s in socks:
        s.close()
    return peak, answers, held


def run(args, scenario):
    with tempfile.TemporaryDirectory() as workdir:
        nats_port, port = free_port(), free_port()
        nats = subprocess.Popen(["nats-server", "-js", "-a", "127.0.0.1", "-p", str(nats_port), "-sd", workdir],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        config = os.path.join(workdir, "flood.yaml")
        with open(config, "w") as f:
            f.write(f"tenants:\n  flood:\n    rae_tenant_id: default-tenant\n"
                    f"api_keys:\n  - id: flood\n    sha256: \"{hashlib.sha256(API_KEY.encode()).hexdigest()}\"\n"
                    f"    scopes: [\"memories:write\"]\n    tenants: [flood]\n")
        env = dict(os.environ, NATS_URL=f"nats://127.0.0.1:{nats_port}", RAE_BASE_URL="http://127.0.0.1:9",
                   RAE_WEBHOOK_SECRET="flood-webhook-secret-8d2e6b0a4c", RAE_PIPELINE_LISTEN=f"127.0.0.1:{port}",
                   RAE_PIPELINE_METRICS_LISTEN="127.0.0.1:0", RUST_LOG="error")
        child = subprocess.Popen([args.binary, "--config", config, "ingress", "--data-dir", os.path.join(workdir, "data")],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(nats_port, 20)
            wait_port(port, 30)
            time.sleep(1)  # settle after start-up before the baseline
            before = rss_kib(child.pid)
            peak, answers, held = flood(args, scenario, port, child.pid)
            time.sleep(2)
            after = rss_kib(child.pid)
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=30)
            nats.terminate()
            nats.wait(timeout=20)
    answered = ", ".join(f"{n}x {s}" for s, n in sorted(answers.items())) or "none"
    print(f"| {scenario} | {args.connections} | {before / 1024:.1f} | {peak / 1024:.1f} | {after / 1024:.1f} "
          f"| {answered}; {held} still open after {args.hold_secs:.0f} s |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default="target/release/rae-pipeline")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--sent-kib", type=int, default=256, help="body bytes each connection sends before it stalls")
    parser.add_argument("--hold-secs", type=float, default=15.0)
    parser.add_argument("--scenario", action="append", choices=["webhook-forged", "memories-nokey", "memories-key"])
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print("| scenario | connections | RSS before (MiB) | peak | after | answers |")
    print("|---|---:|---:|---:|---:|---|")
    for scenario in args.scenario or ["webhook-forged", "memories-nokey", "memories-key"]:
        run(args, scenario)


if __name__ == "__main__":
    main()
