-- wrk script for make bench's reader (issue 13): a hostile tenant's lists
-- and searches at full speed, in turn the patterns that cost the most
-- (a rare status or type that no row has, pages of 100, a search, the
-- accounts), with the API key in $FINSYS_BENCH_KEY. Counts the answers by
-- status and prints a JSON summary line (READS_RESULT) at the end.
local threads = {}
local key = os.getenv("FINSYS_BENCH_KEY")
local paths = {
   "/v1/payments?status=failed&limit=100",
   "/v1/events?type=refund.failed&limit=100",
   "/v1/payments/search?q=INV-2024&limit=100",
   "/v1/payments?status=pending&limit=100",
   "/v1/events?limit=100",
   "/v1/payments?limit=100",
   "/v1/accounts?limit=100",
}
local n = 0
-- Globals, not locals: done() reads each thread's with thread:get().
s200, s429, s503, other = 0, 0, 0, 0

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function request()
   n = n + 1
   local path = paths[(n + tid) % #paths + 1]
   return wrk.format("GET", path, {["Authorization"] = "Bearer " .. key})
end

function response(status, headers, body)
   if status == 200 then
      s200 = s200 + 1
   elseif status == 429 then
      s429 = s429 + 1
   elseif status == 503 then
      s503 = s503 + 1
   else
      other = other + 1
      if other <= 3 then io.stderr:write(string.format("reads: HTTP %d: %s\n", status, body)) end
   end
end

function done(summary, latency, requests)
   local c = {0, 0, 0, 0}
   for _, t in ipairs(threads) do
      c[1] = c[1] + t:get("s200")
      c[2] = c[2] + t:get("s429")
      c[3] = c[3] + t:get("s503")
      c[4] = c[4] + t:get("other")
   end
   io.write(string.format(
      'READS_RESULT {"requests":%d,"duration_s":%.3f,"s200":%d,"s429":%d,"s503":%d,' ..
      '"other":%d,"p50_ms":%.3f,"p99_ms":%.3f}\n',
      summary.requests, summary.duration / 1e6, c[1], c[2], c[3], c[4],
      latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
