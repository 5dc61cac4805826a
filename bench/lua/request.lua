-- One request shape for a whole run, from the environment:
--   BENCH_METHOD (GET/POST), BENCH_BODY (a form body), BENCH_HEADERS (lines of "Name: value").
-- With BENCH_BODIES_FILE set instead, each request takes the next line of that file as its body (every line
-- used at most once across all threads, for single-use codes and refresh tokens); a line may start with
-- "Cookie: ...\t" to send that cookie with it. Prints one JSON line of results when done.
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local headers = {}
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end
if body then headers["Content-Type"] = "application/x-www-form-urlencoded" end

local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local bodies = nil
local next_body = 1

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
    headers["Content-Type"] = "application/x-www-form-urlencoded"
  end
end

function request()
  if bodies then
    local line = bodies[next_body]
    if line == nil then
      -- Out of single-use bodies: send an obviously spent one, counted as non-2xx.
      return wrk.format("POST", nil, headers, "exhausted=1")
    end
    next_body = next_body + 1
    local cookie, rest = line:match("^Cookie: ([^\t]*)\t(.*)$")
    if cookie then
      local h = {}
      for k, v in pairs(headers) do h[k] = v end
      h["Cookie"] = cookie
      return wrk.format("POST", nil, h, rest)
    end
    return wrk.format("POST", nil, headers, line)
  end
  return wrk.format(method, nil, headers, body)
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, non2xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
