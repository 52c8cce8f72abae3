-- A realistic mixed workload for wrk: each wrk thread is one user with one keep-alive connection
-- (run with -t N -c N), who walks through SEQUENCE again and again: list and calendar pages,
-- availability checks, and now and then a booking that is created, edited, accepted by an
-- administrator and cancelled (so the data does not grow full during the run).
--
-- Per-scenario latency is timed here (CLOCK_MONOTONIC via LuaJIT's FFI, request() to
-- response(), exact because a thread has a single connection) and written by done() as
-- "scenario status microseconds" lines to $BENCH_OUT; wrk's own summary goes to stdout.
--
-- Environment (set by bench/harness.py): BENCH_COOKIES, BENCH_TOKENS (member sessions and API
-- tokens, comma-separated, same order), BENCH_ADMIN_TOKEN, BENCH_PLACES (place ids),
-- BENCH_OUT, BENCH_FIRST_FREE_DAY (days from today from which no generated booking exists),
-- BENCH_RUN (a counter of wrk runs on the same data), BENCH_ADMIN_COOKIE, BENCH_SEQUENCE
-- (comma-separated scenarios: replaces SEQUENCE, e.g. one scenario for the scaling runs) and
-- BENCH_THINK_MS (a user's pause between two requests, uniformly 0.5-1.5 times this; 0: none,
-- every connection fires again at once, which measures capacity rather than users).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local function split(value)
  local parts = {}
  for part in string.gmatch(value or "", "[^,]+") do
    parts[#parts + 1] = part
  end
  return parts
end

local SEQUENCE = {
  "page_list", "page_calendar", "availability", "availability", "page_list", "availability",
  "page_calendar", "availability", "create", "availability", "edit", "page_list",
  "availability", "page_calendar", "accept", "availability", "page_list", "cancel",
  "availability", "page_calendar",
}

-- thread setup (runs in the main Lua state) -----------------------------------------------
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("user_index", counter)
  threads[#threads + 1] = thread
end

-- per thread ------------------------------------------------------------------------------
local cookie, token, admin_token, admin_cookie, places
local step = 0
local current, started
local booking_id, booking_body
samples = {} -- global: done() reads it with thread:get; "scenario status us" lines
failures = {} -- global too: the first answers >= 400 of this thread, with their body
local rng_state

local function random(n)
  -- a small LCG per thread: math.random is shared state in wrk's main loop
  rng_state = (rng_state * 1103515245 + 12345) % 2147483648
  return rng_state % n
end

local function day(offset)
  return os.date("!%Y-%m-%d", os.time() + offset * 86400)
end

function init(args)
  local cookies = split(os.getenv("BENCH_COOKIES"))
  local tokens = split(os.getenv("BENCH_TOKENS"))
  local index = (user_index - 1) % #tokens + 1
  cookie = cookies[index]
  token = tokens[index]
  admin_token = os.getenv("BENCH_ADMIN_TOKEN")
  admin_cookie = os.getenv("BENCH_ADMIN_COOKIE")
  local override = split(os.getenv("BENCH_SEQUENCE"))
  if #override > 0 then
    SEQUENCE = override
  end
  places = split(os.getenv("BENCH_PLACES"))
  rng_state = user_index * 7919
  -- users start at different points of the sequence, so short runs still mix all scenarios
  step = (user_index * 7) % #SEQUENCE
end

local function api(method, path, bearer, body)
  local headers = { ["Authorization"] = "Bearer " .. bearer, ["Accept"] = "application/json" }
  if body then
    headers["Content-Type"] = "application/json"
  end
  return wrk.format(method, path, headers, body)
end

local function page(path, session)
  return wrk.format("GET", path, { ["Cookie"] = "booking_session=" .. (session or cookie), ["Accept"] = "text/html" })
end

local first_free = tonumber(os.getenv("BENCH_FIRST_FREE_DAY") or "200")
local think_ms = tonumber(os.getenv("BENCH_THINK_MS") or "0")

-- wrk asks before every request how long this user waits first.
function delay()
  if think_ms <= 0 then
    return 0
  end
  return math.floor(think_ms / 2 + random(think_ms + 1))
end
local run = tonumber(os.getenv("BENCH_RUN") or "0")

local function build(kind)
  if kind == "page_list" then
    return page("/bookings")
  elseif kind == "page_calendar" then
    return page("/bookings?view=calendar")
  elseif kind == "admin_list" then
    return page("/bookings", admin_cookie)
  elseif kind == "admin_calendar" then
    return page("/bookings?view=calendar", admin_cookie)
  elseif kind == "availability" then
    local start = 1 + random(120)
    return api("GET", "/api/bookings/availability?startDate=" .. day(start) .. "&endDate="
      .. day(start + 1 + random(6)), token)
  elseif kind == "create" then
    -- Each user books in a week of its own after the generated data (and cancels before the
    -- next create), each wrk run ($BENCH_RUN) in a year of its own (a run may end between a
    -- create and its cancel): users never compete for a place, so a refusal is a real error.
    local start = first_free + run * 420 + (user_index - 1) * 8 + random(4)
    booking_body = string.format(
      '{"startDate":"%s","endDate":"%s","bookingItems":[{"sleepingAccommodationId":"%s","personCount":1}],"notes":"wrk"}',
      day(start), day(start + 1 + random(3)), places[random(#places) + 1])
    return api("POST", "/api/bookings", token, booking_body)
  elseif kind == "edit" then
    return api("PUT", "/api/bookings/" .. booking_id, token,
      (string.gsub(booking_body, '"notes":"wrk"', '"notes":"wrk, bearbeitet"')))
  elseif kind == "accept" then
    return api("POST", "/api/bookings/" .. booking_id .. "/accept", admin_token)
  elseif kind == "cancel" then
    return api("POST", "/api/bookings/" .. booking_id .. "/cancel", token)
  end
end

function request()
  step = step % #SEQUENCE + 1
  current = SEQUENCE[step]
  if (current == "edit" or current == "accept" or current == "cancel") and not booking_id then
    current = "availability" -- the create failed: nothing to edit
  end
  local req = build(current)
  started = now_us()
  return req
end

function response(status, headers, body)
  local elapsed = now_us() - started
  samples[#samples + 1] = string.format("%s %d %d", current, status, elapsed)
  if status >= 400 and #failures < 5 then
    failures[#failures + 1] = "! " .. current .. " " .. status .. " " .. string.gsub(string.sub(body, 1, 300), "%s+", " ")
  end
  if current == "create" then
    booking_id = nil
    if status == 201 then
      booking_id = string.match(body, '"id"%s*:%s*"([0-9a-f%-]+)"')
    end
  elseif current == "cancel" then
    booking_id = nil
  end
end

-- results (main Lua state) ----------------------------------------------------------------
function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  for _, thread in ipairs(threads) do
    local lines = thread:get("samples")
    for _, line in ipairs(lines) do
      out:write(line, "\n")
    end
    for _, line in ipairs(thread:get("failures")) do
      out:write(line, "\n")
    end
  end
  out:close()
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p95": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
