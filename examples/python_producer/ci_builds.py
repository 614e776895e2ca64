#!/usr/bin/env python3
"""A custom integration for rae-pipeline: turns CI build results into memories.

The seed's integration template done through the pipeline's memories API: for each build,
`extract_content`, `calculate_importance` and `extract_tags`, then `store` them all with one
`POST /api/v1/memories` (`{"memories": [...]}`) authenticated by an API key with the
`memories:write` scope. Each memory carries an `idempotency_key` made from the build's own id, so
sending the same build again (a retry after a timeout, a re-run of this script) stores nothing
twice: the pipeline answers `"duplicate": true`. Python's standard library only.

    # one JSON object per line: {"pipeline", "build", "status", "branch", "commit", "url",
    #                            "author", "finished_at", "duration_secs"}
    RAE_PIPELINE_URL=http://127.0.0.1:8080 RAE_PIPELINE_API_KEY=rpk_... \\
        python3 examples/python_producer/ci_builds.py --tenant acme < builds.jsonl

Prints one line per build (`stored <id> <key>`, `duplicate <id> <key>` or `rejected <key>:
<message>`). Exit status: 0 when every build was stored, 1 when some were refused or the
pipeline could not be reached, 2 on bad usage. docs/contracts.md describes what happens next.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

MAX_BATCH = 100  # the pipeline's default `ingress.max_batch`
MAX_ATTEMPTS = 5


def extract_content(build: dict) -> str:
    """The memory text: what happened, in one sentence an agent can use."""
    text = "Build {build} of {pipeline} {status} on {branch}".format(
        build=build["build"],
        pipeline=build["pipeline"],
        status=build["status"],
        branch=build.get("branch", "?"),
    )
    if build.get("commit"):
        text += f" at {build['commit'][:12]}"
    if build.get("duration_secs") is not None:
        text += f" after {build['duration_secs']} s"
    return text


def calculate_importance(build: dict) -> float:
    """0..1: a failed deploy of the main branch matters most, a green feature branch least."""
    importance = {"failed": 0.7, "cancelled": 0.3, "succeeded": 0.2}.get(build["status"], 0.4)
    if build.get("branch") in ("main", "master"):
        importance += 0.15
    if "deploy" in build["pipeline"] or "release" in build["pipeline"]:
        importance += 0.1
    return round(min(importance, 1.0), 2)


def extract_tags(build: dict) -> list:
    """Tags to find it by: the pipeline, the outcome, the branch."""
    tags = ["ci", build["pipeline"], build["status"]]
    if build.get("branch"):
        tags.append(build["branch"])
    return tags


def memory(build: dict) -> dict:
    """One item of the memories API (the webhook memory object)."""
    item = {
        "content": extract_content(build),
        "importance": calculate_importance(build),
        "tags": extract_tags(build),
        "source": "ci",
        "kind": "build",
        "idempotency_key": f"{build['pipeline']}/{build['build']}",
        "metadata": {
            k: build[k] for k in ("pipeline", "build", "status", "commit", "url") if k in build
        },
    }
    if build.get("finished_at"):
        item["occurred_at"] = build["finished_at"]
    return item


def store(items: list, base_url: str, api_key: str, tenant) -> dict:
    """POSTs one batch; retries what the pipeline says to retry (429, 503), by its Retry-After.

    Safe to retry because every item has an idempotency key. Returns the JSON answer of a 202,
    207 or 400; raises RuntimeError for anything else.
    """
    body = json.dumps({"memories": items}).encode()
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    if tenant:
        headers["X-Tenant-ID"] = tenant
    for attempt in range(1, MAX_ATTEMPTS + 1):
        request = urllib.request.Request(
            f"{base_url.rstrip('/')}/api/v1/memories", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            answer = err.read().decode(errors="replace")
            if err.code == 400 and '"results"' in answer:
                return json.loads(answer)  # per-item results: every item was refused
            if err.code in (429, 503) and attempt < MAX_ATTEMPTS:
                delay = min(int(err.headers.get("Retry-After", "1") or 1), 60)
                print(f"pipeline answered {err.code}; retrying in {delay} s", file=sys.stderr)
                time.sleep(delay)
                continue
            raise RuntimeError(f"pipeline answered {err.code}: {answer}") from None
        except urllib.error.URLError as err:
            if attempt < MAX_ATTEMPTS:
                time.sleep(min(2**attempt, 30))
                continue
            raise RuntimeError(f"pipeline unreachable at {base_url}: {err.reason}") from None
    raise RuntimeError("unreachable")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("RAE_PIPELINE_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--tenant", default=os.environ.get("RAE_TENANT"),
                        help="X-Tenant-ID (may be left out when the key has one tenant)")
    parser.add_argument("--file", help="JSON lines of builds (default: standard input)")
    args = parser.parse_args()
    api_key = os.environ.get("RAE_PIPELINE_API_KEY")
    if not api_key:
        parser.error("RAE_PIPELINE_API_KEY is not set")
    source = open(args.file, encoding="utf-8") if args.file else sys.stdin
    try:
        builds = [json.loads(line) for line in source if line.strip()]
        items = [memory(b) for b in builds]
    except (ValueError, KeyError) as err:
        parser.error(f"unreadable build record: {err!r}")
    ok = True
    for start in range(0, len(items), MAX_BATCH):
        batch = items[start:start + MAX_BATCH]
        try:
            answer = store(batch, args.url, api_key, args.tenant)
        except RuntimeError as err:
            print(f"ci_builds: {err}", file=sys.stderr)
            return 1
        for result in answer["results"]:
            key = batch[result["index"]]["idempotency_key"]
            if result["status"] == "accepted":
                verb = "duplicate" if result.get("duplicate") else "stored"
                print(f"{verb} {result['id']} {key}", flush=True)
            else:
                ok = False
                print(f"rejected {key}: {result.get('message', result.get('error'))}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
