-- Requests the paths listed in a file, one per line, in order, starting over at the end (each
-- time counted in "wrapped", which report.lua prints): unique searches for the uncached runs, and
-- whole requests for the write rows (below).
--
--   wrk -t1 -c64 -d10s --latency -s bench/wrk/paths.lua http://127.0.0.1:PORT -- PATHS_FILE

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

threads = {}
local requests = {}
local position = 0
wrapped = 0

function setup(thread)
   table.insert(threads, thread)
end

-- A line with tabs is a whole request: METHOD<TAB>PATH<TAB>AUTHORIZATION<TAB>JSON BODY (an empty
-- authorization or body: none), for the write rows (login, publish, send message).
local function parse(line)
   local method, path, authorization, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
   if not method then
      return wrk.format("GET", line)
   end
   local headers = {}
   if authorization ~= "" then
      headers["Authorization"] = authorization
   end
   if body == "" then
      body = nil
   else
      headers["Content-Type"] = "application/json"
   end
   return wrk.format(method, path, headers, body)
end

function init(args)
   for line in io.lines(args[1]) do
      if line ~= "" then
         table.insert(requests, parse(line))
      end
   end
   if #requests == 0 then
      error("no paths in " .. args[1])
   end
end

function request()
   position = position + 1
   if position > #requests then
      position = 1
      wrapped = wrapped + 1
   end
   return requests[position]
end
