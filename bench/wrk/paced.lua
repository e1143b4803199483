-- The paths of a file in turn (paths.lua), at an offered rate: each connection waits a random
-- exponential time before each request (Poisson arrivals), with a mean of connections / rate, so
-- that all of them together offer `rate` requests a second when answers are fast. wrk is
-- closed-loop: a connection waiting for a slow answer sends nothing meanwhile, so an achieved rate
-- under the offered one means the server could not keep up (its latency then leaves out the time
-- the requests that were not sent would have queued).
--
--   wrk -t1 -c64 -d10s --latency -s bench/wrk/paced.lua http://127.0.0.1:PORT -- PATHS_FILE RATE CONNECTIONS

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "paths.lua")

local mean_ms = 0
local read_paths = init

function init(args)
   read_paths(args)
   local rate, connections = tonumber(args[2]), tonumber(args[3])
   if not rate or not connections or rate <= 0 or connections <= 0 then
      error("usage: -- PATHS_FILE RATE CONNECTIONS")
   end
   mean_ms = 1000 * connections / rate
   math.randomseed(24)
end

function delay()
   return -mean_ms * math.log(1 - math.random())
end
