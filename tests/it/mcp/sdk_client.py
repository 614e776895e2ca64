"""Drives rae-pipeline's MCP server with the official MCP Python SDK (PyPI `mcp`), as an
assistant does: `rae-pipeline mcp` over stdio, or `/mcp` on the ingress over Streamable HTTP.

Usage: python3 sdk_client.py PLAN.json. The plan names the server command and, per session,
either its arguments, environment and working directory (stdio) or its `url` and HTTP `headers`
(Streamable HTTP), and the calls to make. Every observation is printed as one JSON object on
stdout for the Rust tests (tests/it/mcp.rs, tests/it/mcp_http.rs) to assert on; the SDK itself
checks each successful tool result against the tool's outputSchema (a mismatch is recorded as an
exception).
"""

import asyncio
import contextlib
import json
import sys

import httpx2

from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

ANSWER_TIMEOUT = 20


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def failure(error):
    if isinstance(error, MCPError):
        return {"error": {"code": error.code, "message": error.message}}
    return {"exception": f"{type(error).__name__}: {error}"}


async def attempt(coroutine):
    try:
        return dump(await coroutine)
    except Exception as error:  # the test asserts on what happened, whatever it was
        return failure(error)


@contextlib.asynccontextmanager
async def connect(command, session_plan):
    """The SDK's streams to the server: over HTTP when the plan names a URL, else stdio."""
    if "url" in session_plan:
        # The SDK takes the HTTP client to use: this one sends the API key with every request.
        timeout = httpx2.Timeout(ANSWER_TIMEOUT, read=ANSWER_TIMEOUT * 3)
        headers = session_plan.get("headers", {})
        async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http:
            async with streamable_http_client(session_plan["url"], http_client=http) as streams:
                yield streams
        return
    params = StdioServerParameters(
        command=command,
        args=session_plan["args"],
        env=session_plan["env"],
        cwd=session_plan["cwd"],
    )
    async with stdio_client(params) as streams:
        yield streams


async def run_session(command, session_plan):
    out = {}
    async with connect(command, session_plan) as (read, write):
        async with ClientSession(
            read, write, read_timeout_seconds=ANSWER_TIMEOUT
        ) as session:
            out["initialize"] = dump(await session.initialize())
            out["tools"] = dump(await session.list_tools())["tools"]
            out["calls"] = [
                {
                    "tool": call["tool"],
                    "arguments": call["arguments"],
                    "result": await attempt(
                        session.call_tool(call["tool"], call["arguments"])
                    ),
                }
                for call in session_plan.get("calls", [])
            ]
            if session_plan.get("resources"):
                out["resources"] = dump(await session.list_resources())["resources"]
                out["templates"] = dump(await session.list_resource_templates())[
                    "resourceTemplates"
                ]
                out["prompts"] = dump(await session.list_prompts())["prompts"]
            out["reads"] = [
                {"uri": uri, "result": await attempt(session.read_resource(uri))}
                for uri in session_plan.get("reads", [])
            ]
            out["prompt_gets"] = [
                {
                    "name": get["name"],
                    "arguments": get.get("arguments"),
                    "result": await attempt(
                        session.get_prompt(get["name"], get.get("arguments"))
                    ),
                }
                for get in session_plan.get("prompt_gets", [])
            ]
    return out


async def main(path):
    with open(path, encoding="utf-8") as f:
        plan = json.load(f)
    results = {}
    for name, session_plan in plan["sessions"].items():
        results[name] = await run_session(plan.get("command"), session_plan)
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
