-- wrk script for make bench: POST /v1/payments between random pairs of the
-- funded accounts listed in $FINSYS_BENCH_ACCOUNTS, each with a unique
-- Idempotency-Key. Prints a JSON summary line at the end.
local counter = 0
local threads = {}
local accounts = {}
local key = os.getenv("FINSYS_BENCH_KEY")
local run = os.getenv("FINSYS_BENCH_RUN") or tostring(os.time())

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   for line in io.lines(os.getenv("FINSYS_BENCH_ACCOUNTS")) do
      accounts[#accounts + 1] = line
   end
   math.randomseed(os.time() * 1000 + tid)
end

function request()
   counter = counter + 1
   local a = math.random(#accounts)
   local b = math.random(#accounts - 1)
   if b >= a then b = b + 1 end
   local body = string.format(
      '{"from_account":"%s","to_account":"%s","amount":%d,"currency":"USD"}',
      accounts[a], accounts[b], math.random(1, 1000))
   local headers = {
      ["Authorization"] = "Bearer " .. key,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = string.format("bench-%s-%d-%d", run, tid, counter),
   }
   return wrk.format("POST", "/v1/payments", headers, body)
end

local reported = 0
function response(status, headers, body)
   if status ~= 201 and reported < 3 then
      reported = reported + 1
      io.stderr:write(string.format("bench: HTTP %d: %s\n", status, body))
   end
end

function done(summary, latency, requests)
   io.write(string.format(
      'WRK_RESULT {"requests":%d,"duration_s":%.3f,"errors_status":%d,' ..
      '"errors_socket":%d,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
      summary.requests, summary.duration / 1e6, summary.errors.status,
      summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
