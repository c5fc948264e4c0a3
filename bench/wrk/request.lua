-- wrk script for bench/bench_check_patient.py: one request shape, checked answers, JSON summary.
--
-- Configured by environment variables (set by the bench script):
--   BENCH_METHOD       GET or POST
--   BENCH_BODY_FILE    file with the request body (POST only)
--   BENCH_HEADERS      "Name: value" lines separated by newlines
--   BENCH_EXPECT       a substring every 200 answer must contain (plain match)
--   BENCH_IDEMPOTENCY  "1": send a fresh Idempotency-Key on every request (as the bridge does)
--   BENCH_VARY_SNILS   an 11-digit SNILS in the body: replaced on every request by another valid one
--                      (per thread and counter), so that no two calls in flight are the same patient
-- done() prints one line "BENCH_JSON {...}" with counts and latency percentiles (µs).

local method = os.getenv("BENCH_METHOD") or "GET"
local body_file = os.getenv("BENCH_BODY_FILE")
local expect = os.getenv("BENCH_EXPECT") or ""
local idempotency = os.getenv("BENCH_IDEMPOTENCY") == "1"
local vary_snils = os.getenv("BENCH_VARY_SNILS") or ""

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

-- A valid SNILS (bridge/identifiers.py: weights 9…1; a sum below 100 as is, 100 and 101 → 00,
-- above: the remainder by 101, 100 → 00) from a 9-digit number above 001-001-998.
local function snils(n)
  local first9 = string.format("%09d", 200000000 + n % 700000000)
  local sum = 0
  for i = 1, 9 do sum = sum + tonumber(first9:sub(i, i)) * (10 - i) end
  local check = sum
  if sum >= 100 then check = sum % 101 % 100 end
  return first9 .. string.format("%02d", check)
end

if idempotency or vary_snils ~= "" then
  -- Defined only when needed: without request() wrk sends one pre-built request buffer.
  function request()
    counter = counter + 1
    if idempotency then
      headers["Idempotency-Key"] = string.format("bench-%d-%d-%d", nonce, id, counter)
    end
    local sent = body
    if vary_snils ~= "" then
      sent = body:gsub(vary_snils, snils(nonce * 7919 + id * 1000003 + counter), 1)
    end
    return wrk.format(method, nil, headers, sent)
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
