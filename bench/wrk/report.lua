-- The end of every wrk run of bench/wrk_bench.py: one line, "WRK_JSON {...}", with the figures
-- the table needs (latencies in microseconds). Loaded on its own for a single repeated path:
--
--   wrk -t1 -c64 -d10s --latency -s bench/wrk/report.lua http://127.0.0.1:PORT/api/health
--
-- and by paths.lua, which also counts how often its list of paths started over ("wrapped").
-- Every request says it wants JSON, as a client of the API does.

wrk.headers["Accept"] = "application/json"

function done(summary, latency, requests)
   local wrapped = 0
   for _, thread in ipairs(threads or {}) do
      wrapped = wrapped + (thread:get("wrapped") or 0)
   end
   local errors = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, '
         .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %.0f, "p90_us": %.0f, '
         .. '"p99_us": %.0f, "max_us": %.0f, "wrapped": %d}\n',
      summary.requests, summary.duration, summary.bytes, errors.connect, errors.read,
      errors.write, errors.status, errors.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, wrapped
   ))
end
