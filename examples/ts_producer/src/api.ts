// The types of the memories API, taken from the types `npm run generate` writes from
// contracts/openapi.json (the ingress's OpenAPI description), so a change of the API that
// breaks this example fails `tsc`.

import type { components, operations } from "./generated/openapi.js";

type Schemas = components["schemas"];
type StoreMemories = operations["storeMemories"];

/** One memory: becomes one `event.v1` on the bus. */
export type Memory = Schemas["Memory"];
/** The body of `POST /api/v1/memories`. */
export type StoreRequest =
  StoreMemories["requestBody"]["content"]["application/json"];
/** The per-item answer to a batch (202, 207, or 400 when no item was valid). */
export type BatchAnswer = Schemas["BatchAnswer"];
/** Every error the ingress answers: `{error, message, field?}`. */
export type ApiError = Schemas["Error"];
