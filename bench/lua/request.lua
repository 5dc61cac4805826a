-- One request shape for a whole run, from the environment:
--   BENCH_METHOD (GET/POST), BENCH_BODY (a form body), BENCH_HEADERS (lines of "Name: value").
-- With BENCH_BODIES_FILE set instead, each request takes the next line of that file (every line used at most once
-- across all threads, for single-use codes, refresh tokens, assertions and DPoP proofs): the line is the form body,
-- after any number of "Name: value\t" fields sent as headers of that request alone (a session cookie, a DPoP proof);
-- a GET sends no body. With BENCH_EXPECT_STATUS set, an answer counts as a failure ("non_2xx") unless it has that
-- status (and, with BENCH_EXPECT_BODY, that text in its body): for scenarios whose normal answer is an error, such as
-- a device's authorization_pending. Prints one JSON line of results when done.
-- wrk calls request() once before the run to check the script: the first line of the first thread is never sent.
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local headers = {}
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end
if body then headers["Content-Type"] = "application/x-www-form-urlencoded" end
local expect_status = tonumber(os.getenv("BENCH_EXPECT_STATUS") or "")
local expect_body = os.getenv("BENCH_EXPECT_BODY")

local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local bodies = nil
local next_body = 1
unexpected = 0

function init(args)
  local file = os.getenv("BENCH_BODIES_FILE")
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  if file then
    bodies = {}
    local index = 0
    for line in io.lines(file) do
      if index % nthreads == (id - 1) then table.insert(bodies, line) end
      index = index + 1
    end
    if method ~= "GET" then headers["Content-Type"] = "application/x-www-form-urlencoded" end
  end
end

function request()
  if bodies then
    local line = bodies[next_body]
    if line == nil then
      -- Out of single-use material: send an obviously spent request, counted as a failure.
      return wrk.format(method, nil, headers, method ~= "GET" and "exhausted=1" or nil)
    end
    next_body = next_body + 1
    local h = nil
    local name, value, rest = line:match("^([%w-]+): ([^\t]*)\t(.*)$")
    while name do
      if h == nil then
        h = {}
        for k, v in pairs(headers) do h[k] = v end
      end
      h[name] = value
      line = rest
      name, value, rest = line:match("^([%w-]+): ([^\t]*)\t(.*)$")
    end
    if method == "GET" then line = nil end
    return wrk.format(method, nil, h or headers, line)
  end
  return wrk.format(method, nil, headers, body)
end

if expect_status then
  -- Defined only when asked for: wrk reads every answer's body for a `response` function, which costs it time.
  function response(status, _, answer)
    if status ~= expect_status or (expect_body and not (answer or ""):find(expect_body, 1, true)) then
      unexpected = unexpected + 1
    end
  end
end

function done(summary, latency, requests)
  local failures = summary.errors.status
  if expect_status then
    failures = 0
    for _, thread in ipairs(threads) do failures = failures + (thread:get("unexpected") or 0) end
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, failures,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
