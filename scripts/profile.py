#!/usr/bin/env python3
"""Counts what one request costs the ingress, repeatably: instructions (valgrind's callgrind) and
heap allocations (valgrind's dhat) per signed webhook, with the functions that cost the most.

Instruction and allocation counts do not depend on what else the machine is doing, so a
before/after comparison holds on a busy machine where timings would not (docs/benchmarks.md).

    python3 scripts/profile.py                          # target/release/rae-pipeline
    python3 scripts/profile.py --binary PATH --requests 2000 --top 25
    python3 scripts/profile.py --kind memories          # POST /api/v1/memories with an API key
    python3 scripts/profile.py --role up                # the whole pipeline: ingress, enricher,
                                                        # writer, into a fake RAE (per event)

It starts its own nats-server (JetStream, temp dir) on a free port, runs `rae-pipeline ingress`
(or `up`, with a fake RAE in this script that answers every store at once) under valgrind twice
(callgrind, then dhat), sends warm-up requests, then the measured ones one after another on one
keep-alive connection (with `up`: and waits until RAE has every memory), and prints the
per-request figures.
"""

import argparse
import hashlib
import hmac
import http.client
import http.server
import threading
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SECRET = "profile-webhook-secret-5f2c9a7e1d"
API_KEY = "rpk_profile_key_8c1f4e2a9b7d"
TENANT = "profile"


class FakeRae(http.server.ThreadingHTTPServer):
    """RAE's store route answering at once, counting the memories it got."""

    daemon_threads = True

    def __init__(self):
        self.stored = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), FakeRaeHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class FakeRaeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer(200, {"status": "healthy"} if "health" in self.path else [])

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.stored += 1
            n = self.server.stored
        self.answer(200, {"memory_id": f"mem-{n}"})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    sys.exit(f"profile: {what} did not happen within {seconds} s")


def answers(port, path):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def request_body(kind, n):
    if kind == "memories":
        return json.dumps({"content": f"profile memory {n}: the deploy of build {n} finished", "tags": ["ci", "profile"]}).encode()
    return json.dumps({
        "content": f"Deploy {n} of api to production finished in 42 s by ci-bot, see https://ci.example.com/builds/{n}",
        "kind": "deploy",
        "source": "ci",
        "tags": ["deploy", "production"],
        "metadata": {"build": n, "service": "api"},
    }).encode()


def send(conn, kind, n):
    body = request_body(kind, n)
    if kind == "memories":
        path = "/api/v1/memories"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
    else:
        path = "/api/v1/webhooks/memory"
        ts = str(int(time.time()))
        mac = hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Timestamp": ts,
            "X-Webhook-Signature": f"sha256={mac}",
        }
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    text = response.read()
    if response.status != 202:
        sys.exit(f"profile: request {n} answered {response.status}: {text[:300]!r}")


def run(args, tool, workdir, nats_url):
    rae = FakeRae()
    port = free_port()
    config = os.path.join(workdir, "profile.yaml")
    key_hash = hashlib.sha256(API_KEY.encode()).hexdigest()
    with open(config, "w") as f:
        f.write(
            "ingress:\n  rate_limit:\n    per_second: 0\n"
            f"tenants:\n  {TENANT}:\n    rae_tenant_id: default-tenant\n"
            f"api_keys:\n  - id: profile\n    sha256: \"{key_hash}\"\n"
            f"    scopes: [\"memories:write\"]\n    tenants: [{TENANT}]\n"
        )
    out = os.path.join(workdir, f"{tool}.out")
    valgrind = ["valgrind", f"--tool={tool}", "--quiet"]
    if tool == "callgrind":
        valgrind += [f"--callgrind-out-file={out}", "--dump-instr=no", "--collect-atstart=yes"]
    else:
        valgrind += [f"--dhat-out-file={out}"]
    env = dict(os.environ, NATS_URL=nats_url, RAE_BASE_URL=rae.url,
               RAE_WEBHOOK_SECRET=SECRET, RAE_PIPELINE_LISTEN=f"127.0.0.1:{port}",
               RAE_PIPELINE_METRICS_LISTEN="127.0.0.1:0", RUST_LOG="warn")
    log = open(os.path.join(workdir, f"{tool}.log"), "w")
    child = subprocess.Popen(
        valgrind + [args.binary, "--config", config, args.role, "--data-dir", os.path.join(workdir, "data")],
        env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_for(f"rae-pipeline ingress under {tool} answering /readyz", lambda: answers(port, "/readyz"), 120)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for n in range(args.warmup):
            send(conn, args.kind, n)
        if args.role == "up":
            wait_for("the warm-up reaching RAE", lambda: rae.stored >= args.warmup, 600)
        if tool == "callgrind":
            subprocess.run(["callgrind_control", "--zero", str(child.pid)], check=True, stdout=subprocess.DEVNULL)
        started = args.warmup
        for n in range(started, started + args.requests):
            send(conn, args.kind, n)
        if args.role == "up":
            wait_for("every memory reaching RAE", lambda: rae.stored >= started + args.requests, 1200)
        if tool == "callgrind":
            subprocess.run(["callgrind_control", "--dump", str(child.pid)], check=True, stdout=subprocess.DEVNULL)
        conn.close()
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=120)
        rae.shutdown()
    return out


def callgrind_figures(args, out_prefix):
    dumps = sorted(p for p in os.listdir(os.path.dirname(out_prefix)) if p.startswith(os.path.basename(out_prefix) + "."))
    # The dump taken right after the measured requests (the numbered one), not the one at exit.
    dump = os.path.join(os.path.dirname(out_prefix), dumps[0])
    text = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", dump], check=True,
                          capture_output=True, text=True).stdout
    total = int(re.search(r"^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text, re.M).group(1).replace(",", ""))
    print(f"instructions per request: {total / args.requests:,.0f} ({total:,} for {args.requests})")
    print(f"top {args.top} functions by own instructions:")
    rows = re.findall(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S.*)$", text.split("PROGRAM TOTALS", 1)[1], re.M)
    # The frames that were on the stack when the counters were zeroed show the whole total.
    rows = [(count, share, name) for count, share, name in rows if int(count.replace(",", "")) < total]
    for count, share, name in rows[: args.top]:
        name = re.sub(r"^\S*:", "", name, count=1)
        print(f"  {share:>5}%  {name[:150]}")


def dhat_blocks(path):
    with open(path) as f:
        data = json.load(f)
    return sum(pp["tbk"] for pp in data["pps"]), sum(pp["tb"] for pp in data["pps"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default="target/release/rae-pipeline")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--kind", choices=["webhook", "memories"], default="webhook")
    parser.add_argument("--role", choices=["ingress", "up"], default="ingress",
                        help="the role to profile; with `up` the figures are per event end to end")
    parser.add_argument("--no-dhat", action="store_true", help="skip the allocation count")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("profile: valgrind is missing (apt-get install valgrind)")
    if not os.path.exists(args.binary):
        sys.exit(f"profile: {args.binary} is missing (cargo build --release)")
    with tempfile.TemporaryDirectory() as workdir:
        workdir = os.environ.get("PROFILE_KEEP", workdir)
        port = free_port()
        nats = subprocess.Popen(["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", os.path.join(workdir, "js")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for("nats-server listening", lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 20)
            nats_url = f"nats://127.0.0.1:{port}"
            print(f"{args.role}, {args.kind}: {args.requests} requests after {args.warmup} warm-up, {args.binary}")
            out = run(args, "callgrind", workdir, nats_url)
            callgrind_figures(args, out)
            if not args.no_dhat:
                # Allocations per request: the difference of two runs, so start-up and shutdown cancel.
                base = args.requests
                args.requests = 0
                blocks0, bytes0 = dhat_blocks(run(args, "dhat", workdir, nats_url))
                args.requests = base
                blocks1, bytes1 = dhat_blocks(run(args, "dhat", workdir, nats_url))
                if blocks1 == blocks0:
                    # dhat counts calls to the C library's malloc; the binary's own allocator
                    # (mimalloc, src/main.rs) never calls it, so there is nothing to count.
                    print("heap allocations per request: not measured (dhat sees only the C "
                          "library's malloc, and the binary allocates with mimalloc)")
                else:
                    print(f"heap allocations per request: {(blocks1 - blocks0) / base:.1f} "
                          f"({(bytes1 - bytes0) / base:,.0f} bytes)")
        finally:
            nats.terminate()
            nats.wait(timeout=20)


if __name__ == "__main__":
    main()
