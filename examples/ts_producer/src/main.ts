// incidents: turns incident updates into memories through rae-pipeline's memories API.
//
//   # one JSON object per line: {"id", "title", "status", "severity", "service",
//   #                            "summary"?, "opened_at", "resolved_at"?, "url"?}
//   RAE_PIPELINE_URL=http://127.0.0.1:8080 RAE_PIPELINE_API_KEY=rpk_... \
//     node dist/main.js --tenant acme < incidents.jsonl
//
// Prints one line per update (`stored <id> <key>`, `duplicate <id> <key>` or
// `rejected <key>: <message>`). Exit status: 0 when every update was stored, 1 when some were
// refused or the pipeline refused the request or could not be reached, 2 on bad usage.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import {
  MAX_BATCH,
  PipelineError,
  storeBatch,
  type Pipeline,
} from "./client.js";
import { memory, parseIncident } from "./incidents.js";
import type { Memory } from "./api.js";

const USAGE =
  "usage: node dist/main.js [--url URL] [--tenant TENANT] [--file incidents.jsonl]\n" +
  "  RAE_PIPELINE_API_KEY must hold an API key with the memories:write scope";

class UsageError extends Error {}

/** The command line's options, or a UsageError saying what is wrong with them. */
function options() {
  try {
    return parseArgs({
      options: {
        url: {
          type: "string",
          default: process.env["RAE_PIPELINE_URL"] ?? "http://127.0.0.1:8080",
        },
        tenant: { type: "string" },
        file: { type: "string" },
      },
    }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function settings(): { pipeline: Pipeline; file: string | undefined } {
  const values = options();
  const apiKey = process.env["RAE_PIPELINE_API_KEY"];
  if (apiKey === undefined || apiKey === "") {
    throw new UsageError("RAE_PIPELINE_API_KEY is not set");
  }
  const pipeline: Pipeline = {
    url: values.url,
    apiKey,
    log: (line) => console.error(line),
  };
  const tenant = values.tenant ?? process.env["RAE_TENANT"];
  if (tenant !== undefined) pipeline.tenant = tenant;
  return { pipeline, file: values.file };
}

/** The memories of the input's JSON lines, or a UsageError naming the bad line. */
function readMemories(text: string): Memory[] {
  return text
    .split("\n")
    .map((line, index) => ({ line: line.trim(), number: index + 1 }))
    .filter(({ line }) => line !== "")
    .map(({ line, number }) => {
      try {
        return memory(parseIncident(JSON.parse(line)));
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new UsageError(`line ${number}: unreadable incident: ${reason}`);
      }
    });
}

async function main(): Promise<number> {
  const { pipeline, file } = settings();
  const memories = readMemories(readFileSync(file ?? 0, "utf8"));
  let ok = true;
  for (let start = 0; start < memories.length; start += MAX_BATCH) {
    const batch = memories.slice(start, start + MAX_BATCH);
    const answer = await storeBatch(pipeline, batch);
    for (const result of answer.results) {
      const key =
        batch[result.index]?.idempotency_key ?? `#${start + result.index}`;
      if (result.status === "accepted") {
        console.log(
          `${result.duplicate ? "duplicate" : "stored"} ${result.id} ${key}`,
        );
      } else {
        ok = false;
        console.log(`rejected ${key}: ${result.message ?? result.error}`);
      }
    }
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`incidents: ${err.message}\n${USAGE}`);
      process.exitCode = 2;
    } else if (err instanceof PipelineError) {
      console.error(`incidents: ${err.message}`);
      process.exitCode = 1;
    } else {
      console.error("incidents: unexpected failure:", err);
      process.exitCode = 1;
    }
  },
);
