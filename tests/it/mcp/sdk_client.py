"""Drives `rae-pipeline mcp` with the official MCP Python SDK (PyPI `mcp`), as an assistant does.

Usage: python3 sdk_client.py PLAN.json. The plan names the server command and, per session, its
arguments, environment and the calls to make. Every observation is printed as one JSON object on
stdout for the Rust test (tests/it/mcp.rs) to assert on; the SDK itself checks each successful
tool result against the tool's outputSchema (a mismatch is recorded as an exception).
"""

import asyncio
import json
import sys

from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client

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


async def run_session(command, session_plan):
    params = StdioServerParameters(
        command=command,
        args=session_plan["args"],
        env=session_plan["env"],
        cwd=session_plan["cwd"],
    )
    out = {}
    async with stdio_client(params) as (read, write):
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
        results[name] = await run_session(plan["command"], session_plan)
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
