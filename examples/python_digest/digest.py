#!/usr/bin/env python3
"""A custom consumer of rae-pipeline: keeps a daily digest file of one tenant's events.

It owns a durable pull consumer on the RAE_ENRICHED stream, filtered to
`rae.enriched.<tenant>.>`, with explicit acks, and fetches at most `--batch` events at a time.
Each event becomes one line of `<dir>/digest-<YYYY-MM-DD>.md` (the UTC day the event occurred),
appended and flushed to disk before the event is acked. The line ends with the event id in an
HTML comment, so the file itself remembers what it holds: a redelivered, replayed or backfilled
event (replays and backfills carry a fresh message id but the same event id) is not written
twice, even across restarts. docs/consumers.md explains every choice;
contracts/enriched.v1.schema.json is the payload.

    python3 -m pip install -r examples/python_digest/requirements.txt
    NATS_URL=nats://127.0.0.1:4222 RAE_TENANT=default-tenant \\
        python3 examples/python_digest/digest.py --dir digests

It prints `ready: ...` once its consumer exists, and one line per event it writes or skips.
SIGINT or SIGTERM stop it after the batch in hand.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

STREAM = "RAE_ENRICHED"
SCHEMA_HEADER = "Rae-Schema"
SCHEMA = "event.v1"
ID_MARK = re.compile(r"<!-- event:([^ ]+) -->")


def token(raw: str) -> str:
    """A subject token as rae-pipeline makes it: lowercase [a-z0-9_-], anything else `_`."""
    return "".join(c if re.fullmatch(r"[a-z0-9_-]", c) else "_" for c in raw.lower()) or "_"


class Digest:
    """The digest files of one directory, and the event ids each already holds."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ids_by_day: dict[str, set[str]] = {}

    def path(self, day: str) -> Path:
        return self.directory / f"digest-{day}.md"

    def ids(self, day: str) -> set[str]:
        if day not in self.ids_by_day:
            path = self.path(day)
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            self.ids_by_day[day] = set(ID_MARK.findall(text))
        return self.ids_by_day[day]

    def add(self, event: dict) -> bool:
        """Appends the event's line unless its day's file has it; True when written."""
        day = event["occurred_at"][:10]
        ids = self.ids(day)
        if event["id"] in ids:
            return False
        path = self.path(day)
        new_file = not path.exists()
        # One line per event, and no text that could pass for another event's id mark.
        content = " ".join(event["content"].split()).replace("<!--", "<!\u2010-")
        if len(content) > 200:
            content = content[:199] + "…"
        line = "- {time} **{source}/{kind}** ({importance:.2f}) {content}{url} <!-- event:{id} -->\n".format(
            time=event["occurred_at"][11:16],
            source=event["source"],
            kind=event["kind"],
            importance=event.get("importance") or 0.0,
            content=content,
            url=f" {event['url']}" if event.get("url") else "",
            id=event["id"],
        )
        with path.open("a", encoding="utf-8") as file:
            if new_file:
                file.write(f"# Digest of {day} ({event['tenant']})\n\n")
            file.write(line)
            file.flush()
            # On disk before the ack: a crash after the ack must not lose the line.
            os.fsync(file.fileno())
        ids.add(event["id"])
        return True


async def handle(msg, digest: Digest, min_importance: float) -> None:
    schema = (msg.headers or {}).get(SCHEMA_HEADER)
    if schema != SCHEMA:
        print(f"skipped a message of schema {schema!r} on {msg.subject}", file=sys.stderr)
        await msg.term()
        return
    try:
        event = json.loads(msg.data)
        event_id = event["id"]
    except (ValueError, KeyError, TypeError) as err:
        print(f"unreadable event on {msg.subject}: {err}", file=sys.stderr)
        await msg.term()
        return
    if (event.get("importance") or 0.0) < min_importance:
        print(f"skipped {event_id} (importance {event.get('importance')})", flush=True)
        await msg.ack()
        return
    try:
        written = digest.add(event)
    except OSError as err:
        # A full or read-only disk: hand the event back and try again in a while.
        print(f"cannot write {event_id}: {err}", file=sys.stderr)
        await msg.nak(delay=30)
        return
    print(f"{'wrote' if written else 'duplicate'} {event_id}", flush=True)
    await msg.ack()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--tenant", default=os.environ.get("RAE_TENANT"))
    parser.add_argument("--dir", default=os.environ.get("DIGEST_DIR", "digests"))
    parser.add_argument("--consumer", help="durable consumer name (default digest-<tenant>)")
    parser.add_argument("--batch", type=int, default=10, help="events fetched at once")
    parser.add_argument("--min-importance", type=float, default=0.0)
    args = parser.parse_args()
    if not args.tenant:
        parser.error("--tenant or RAE_TENANT is required")
    tenant = token(args.tenant)
    durable = args.consumer or f"digest-{tenant}"
    subject = f"rae.enriched.{tenant}.>"

    nc = await nats.connect(args.nats)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        subject,
        durable=durable,
        stream=STREAM,
        config=ConsumerConfig(
            description="daily digest files (examples/python_digest)",
            ack_policy=AckPolicy.EXPLICIT,
            # Everything the stream still holds: a new digest starts with the last days.
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=30,
            max_deliver=20,
            max_ack_pending=args.batch * 2,
        ),
    )
    print(f"ready: consumer {durable} on {subject}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    digest = Digest(Path(args.dir))
    while not stop.is_set():
        try:
            messages = await sub.fetch(args.batch, timeout=2)
        except (NatsTimeout, asyncio.TimeoutError):
            # Nothing to fetch within the timeout (nats-py raises either kind).
            continue
        for msg in messages:
            await handle(msg, digest, args.min_importance)
    # Acks are sent by then (each `ack()` is written before the next fetch); flush them and
    # close. (nc.drain() can wait forever on a pull subscription in nats-py.)
    await sub.unsubscribe()
    await nc.flush()
    await nc.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
