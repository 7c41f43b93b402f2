-- wrk script: GET /<code> for the bench's codes in random order (one code per line in $BENCH_CODES).
--
-- From $BENCH_DRAIN_AT (Unix time, seconds) on, requests go to "/-" instead, a path that is not a
-- short code (a 404 that counts no click). wrk abandons the responses still in flight when its
-- time is up; this way those are 404s, and every click the replica counted is a 302 that wrk
-- received, so the master's total can be compared with wrk's own count exactly.
--
-- Requests carry a browser's User-Agent and a Referer from a small rotation, as real clicks do,
-- so the replica records every analytics dimension on the way. With $BENCH_QUERY set, each
-- request carries a campaign's query string, which the replica merges into the target. With
-- $BENCH_CLOSE set, each request says `Connection: close`: a new connection for every redirect.
local ffi = require("ffi")
ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clock, bench_timespec *now);
]]
local now = ffi.new("bench_timespec")
local CLOCK_REALTIME = 0

local codes = {}
for line in io.lines(os.getenv("BENCH_CODES")) do codes[#codes + 1] = line end
local drain_at = tonumber(os.getenv("BENCH_DRAIN_AT") or "") or math.huge
local drain = wrk.format("GET", "/-")
local close = os.getenv("BENCH_CLOSE") ~= nil
local query = os.getenv("BENCH_QUERY") and "?utm_source=newsletter&utm_medium=email&utm_campaign=bench&ref=" or nil
local clients = {
    { ["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
      ["Referer"] = "https://www.google.com/search?q=bench" },
    { ["User-Agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
      ["Referer"] = "https://t.co/bench" },
    { ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0" },
    { ["User-Agent"] = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
      ["Referer"] = "https://app.slack.com/" },
}

function setup(thread)
    thread:set("seed", math.random(1, 1000000))
end

function init(args)
    math.randomseed(seed)
end

if close then
    for _, headers in ipairs(clients) do headers["Connection"] = "close" end
    drain = wrk.format("GET", "/-", { ["Connection"] = "close" })
end

function request()
    ffi.C.clock_gettime(CLOCK_REALTIME, now)
    if tonumber(now.tv_sec) + tonumber(now.tv_nsec) / 1e9 >= drain_at then return drain end
    local path = "/" .. codes[math.random(#codes)]
    if query then path = path .. query .. math.random(1000) end
    return wrk.format("GET", path, clients[math.random(#clients)])
end
