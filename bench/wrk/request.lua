-- wrk script for bench/bench_check_patient.py: one request shape, checked answers, JSON summary.
--
-- Configured by environment variables (set by the bench script):
--   BENCH_METHOD       GET or POST
--   BENCH_BODY_FILE    file with the request body (POST only)
--   BENCH_HEADERS      "Name: value" lines separated by newlines
--   BENCH_EXPECT       a substring every 200 answer must contain (plain match)
--   BENCH_IDEMPOTENCY  "1": send a fresh Idempotency-Key on every request (as the bridge does)
-- done() prints one line "BENCH_JSON {...}" with counts and latency percentiles (µs).

local method = os.getenv("BENCH_METHOD") or "GET"
local body_file = os.getenv("BENCH_BODY_FILE")
local expect = os.getenv("BENCH_EXPECT") or ""
local idempotency = os.getenv("BENCH_IDEMPOTENCY") == "1"

local body = nil
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  body = f:read("*a")
  f:close()
end

local headers = {}
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end

wrk.method = method
wrk.body = body
wrk.headers = headers

local threads = {}
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("id", thread_id)
  table.insert(threads, thread)
end

counter = 0
bad = 0
id = 0

local nonce = os.time()

if idempotency then
  -- Defined only when needed: without request() wrk sends one pre-built request buffer.
  function request()
    counter = counter + 1
    headers["Idempotency-Key"] = string.format("bench-%d-%d-%d", nonce, id, counter)
    return wrk.format(method, nil, headers, body)
  end
end

function response(status, _, answer)
  if status ~= 200 or (expect ~= "" and not answer:find(expect, 1, true)) then
    bad = bad + 1
  end
end

function done(summary, latency, _)
  local unexpected = 0
  for _, thread in ipairs(threads) do
    unexpected = unexpected + (thread:get("bad") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"unexpected": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, ' ..
    '"mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, unexpected, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
