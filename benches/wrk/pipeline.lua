-- wrk script of the rae-pipeline benchmark (benches/pipeline/wrk.rs starts wrk with it).
--
-- Settings come from the environment:
--   BENCH_MODE     webhook | batch | direct
--   BENCH_SECRET   webhook secret: every webhook request carries X-Webhook-Timestamp and
--                  X-Webhook-Signature: sha256=<HMAC-SHA256 of "<ts>.<body>">, computed here with
--                  wrk's own libcrypto (LuaJIT ffi), so the ingress checks a real signature
--   BENCH_KEY      API key (batch mode), BENCH_TENANT its tenant
--   BENCH_BATCH    memories per batch request (batch mode)
--   BENCH_RATE     requests per second over all threads; 0 or unset: as fast as possible
--   BENCH_THREADS  wrk's -t, to split the rate
--   BENCH_IDS_DIR  when set, each thread writes "<event id> <unix ns>" of every 2xx answer to
--                  <dir>/ids-<thread>, so the benchmark can match answers with what RAE got
--
-- Webhook requests are made and signed one by one, each with its own body: the ingress treats
-- a signed request sent again as a replay (a duplicate, not a new event), so a pool cycled
-- through would measure duplicates after its first round. Batch and direct requests, which
-- carry no signature, come from a pool of distinct bodies built once and cycled through.
-- done() prints one line starting with "BENCH " for the benchmark to parse.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
const void *EVP_sha256(void);
unsigned char *HMAC(const void *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md, unsigned int *md_len);
]]

local crypto = ffi.C
if not pcall(function() return crypto.EVP_sha256 end) then
  crypto = ffi.load("crypto.so.3")
end

local ts = ffi.new("bench_timespec")
local function clock_ns(clock)
  ffi.C.clock_gettime(clock, ts)
  return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end
local function monotonic_ns() return clock_ns(1) end
local function realtime_ns() return clock_ns(0) end

local function hmac_hex(key, data)
  local md = ffi.new("unsigned char[32]")
  local len = ffi.new("unsigned int[1]")
  crypto.HMAC(crypto.EVP_sha256(), key, #key, data, #data, md, len)
  local out = {}
  for i = 0, 31 do out[#out + 1] = string.format("%02x", md[i]) end
  return table.concat(out)
end

local mode = os.getenv("BENCH_MODE") or "webhook"
local secret = os.getenv("BENCH_SECRET") or ""
local api_key = os.getenv("BENCH_KEY") or ""
local tenant = os.getenv("BENCH_TENANT") or "bench"
local batch_size = tonumber(os.getenv("BENCH_BATCH") or "100")
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
local ids_dir = os.getenv("BENCH_IDS_DIR")
local POOL = 512

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

local function content(thread_id, i)
  return string.format(
    "bench %d-%d: deploy of service api-%d finished in %ds; 3 migrations ran, the cache " ..
    "was warmed and the error rate is back to its baseline after yesterday's incident #bench",
    thread_id, i, i % 17, 20 + i % 40)
end

local requests = {}
local next_request = 1
local ids_file = nil

function init(args)
  local thread_id = id or 0
  if ids_dir and ids_dir ~= "" then
    ids_file = io.open(string.format("%s/ids-%d", ids_dir, thread_id), "w")
  end
  local now = tostring(os.time())
  for i = 1, POOL do
    local body, headers
    if mode == "webhook" then
      body = string.format('{"content":"%s","source":"bench","tags":["bench","deploy"]}',
        content(thread_id, i))
      headers = {
        ["Content-Type"] = "application/json",
        ["X-Webhook-Timestamp"] = now,
        ["X-Webhook-Signature"] = "sha256=" .. hmac_hex(secret, now .. "." .. body),
      }
    elseif mode == "batch" then
      local items = {}
      for j = 1, batch_size do
        items[j] = string.format('{"content":"%s","source":"bench","tags":["bench","deploy"]}',
          content(thread_id, i * batch_size + j))
      end
      body = '{"memories":[' .. table.concat(items, ",") .. ']}'
      headers = {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. api_key,
        ["X-Tenant-ID"] = tenant,
      }
    else
      -- What the writer sends RAE for the same event (see rae::store_body).
      body = string.format(
        '{"content":"%s","source":"bench","project":"default","importance":0.5,' ..
        '"tags":["bench","deploy","webhook"],"layer":"episodic","metadata":{"event_id":"d-%d-%d",' ..
        '"kind":"note","source":"webhook","integration":"memory","tenant":"default-tenant",' ..
        '"occurred_at":"2026-11-25T10:30:00Z","attributes":{"origin":"bench"}}}',
        content(thread_id, i), thread_id, i)
      headers = {
        ["Content-Type"] = "application/json",
        ["X-Tenant-Id"] = "default-tenant",
        ["X-API-Key"] = "bench-rae-key",
      }
    end
    requests[i] = wrk.format("POST", nil, headers, body)
  end
end

local signed = 0

-- A new signed webhook request: the next body of this thread, signed now.
local function signed_webhook()
  signed = signed + 1
  local now = tostring(os.time())
  local body = string.format('{"content":"%s","source":"bench","tags":["bench","deploy"]}',
    content(id or 0, POOL + signed))
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-Webhook-Timestamp"] = now,
    ["X-Webhook-Signature"] = "sha256=" .. hmac_hex(secret, now .. "." .. body),
  }, body)
end

function request()
  if mode == "webhook" then
    return signed_webhook()
  end
  local r = requests[next_request]
  next_request = next_request % POOL + 1
  return r
end

if rate > 0 then
  -- Open-loop pacing per thread: request n leaves at start + n / rate (millisecond timer
  -- resolution), however long earlier answers took, as long as a connection is free.
  local interval_ns = 1e9 * threads / rate
  local next_ns = nil
  function delay()
    local now = monotonic_ns()
    if next_ns == nil or next_ns < now - 1e9 then next_ns = now end
    local wait = next_ns - now
    next_ns = next_ns + interval_ns
    if wait <= 0 then return 0 end
    return math.floor(wait / 1e6)
  end
end

if ids_dir and ids_dir ~= "" then
  function response(status, headers, body)
    if status >= 200 and status < 300 and ids_file then
      local event_id = body:match('"id":"([^"]+)"')
      if event_id then
        ids_file:write(event_id, " ", string.format("%.0f", realtime_ns()), "\n")
      end
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d status_errors=%d timeouts=%d connect_errors=%d " ..
    "read_errors=%d write_errors=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.timeout, e.connect, e.read, e.write,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
