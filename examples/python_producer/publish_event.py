#!/usr/bin/env python3
"""A trusted producer for rae-pipeline that publishes `event.v1` straight to the bus.

No HTTP hop, but no API key, rate limit or audit record either: use it only from services that
hold NATS credentials allowed to publish to `rae.events.>` (docs/contracts.md weighs this against
the memories API, examples/python_producer/ci_builds.py). It builds one event as
contracts/event.v1.schema.json describes, with an id derived from the caller's own stable id
(a UUIDv5), publishes it to `rae.events.<tenant>.<source>.<kind>` with the headers the pipeline
sets (`Nats-Msg-Id`, `Rae-Schema`, `Rae-Tenant`, `Rae-Source`) and waits for JetStream's ack.
Publishing the same `--source-id` again within JetStream's duplicate window (2 minutes by
default) is acknowledged as a duplicate and stored once.

    python3 -m pip install -r examples/python_digest/requirements.txt   # nats-py
    NATS_URL=nats://127.0.0.1:4222 python3 examples/python_producer/publish_event.py \\
        --tenant default-tenant --kind deploy --source-id deploy-2026-11-24-1 \\
        --importance 0.7 --tag deploy "Deployed checkout 2.4.1 to production"

Prints `stored <id>` or `duplicate <id>`.
"""

import argparse
import asyncio
import json
import os
import re
import sys
import uuid
from datetime import datetime, timezone

import nats

# Any fixed namespace of your own: ids derived in it are stable across retries and restarts.
ID_NAMESPACE = uuid.UUID("3b7e0f0c-6c1d-4d55-9f1e-2a64d7a1c9b0")
SOURCES = ("webhook", "api", "github", "slack", "email", "git", "mcp")


def token(raw: str) -> str:
    """A subject token as rae-pipeline makes it: lowercase [a-z0-9_-], anything else `_`."""
    return "".join(c if re.fullmatch(r"[a-z0-9_-]", c) else "_" for c in raw.lower()) or "_"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def build_event(args) -> dict:
    now = datetime.now(timezone.utc)
    return {
        "id": str(uuid.uuid5(ID_NAMESPACE, f"{args.integration}\n{args.source_id}")),
        "tenant": args.tenant,
        "project": args.project,
        "source": args.source,
        "integration": args.integration,
        "kind": args.kind,
        "content": args.content,
        "importance": args.importance,
        "tags": [t.lower() for t in args.tag],
        "layer": "episodic",
        "occurred_at": rfc3339(now),
        "received_at": rfc3339(now),
        "attributes": {"origin": args.integration},
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content")
    parser.add_argument("--nats", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--tenant", default=os.environ.get("RAE_TENANT", "default-tenant"))
    parser.add_argument("--project", default="default")
    parser.add_argument("--source", default="api", choices=SOURCES)
    parser.add_argument("--integration", default="deploy-bot", help="your integration's id")
    parser.add_argument("--kind", default="note")
    parser.add_argument("--source-id", required=True, help="your stable id for this event")
    parser.add_argument("--importance", type=float, help="0..1 (default: the enricher decides)")
    parser.add_argument("--tag", action="append", default=[])
    args = parser.parse_args()

    event = build_event(args)
    subject = f"rae.events.{token(event['tenant'])}.{token(event['source'])}.{token(event['kind'])}"
    headers = {
        "Nats-Msg-Id": event["id"],
        "Rae-Schema": "event.v1",
        "Rae-Tenant": event["tenant"],
        "Rae-Source": event["source"],
    }
    nc = await nats.connect(args.nats)
    try:
        ack = await nc.jetstream().publish(
            subject, json.dumps(event).encode(), headers=headers, timeout=10
        )
    except Exception as err:  # noqa: BLE001 - report any failure to store as one line
        print(f"publish_event: not stored: {err!r}", file=sys.stderr)
        return 1
    finally:
        await nc.close()
    print(f"{'duplicate' if ack.duplicate else 'stored'} {event['id']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
