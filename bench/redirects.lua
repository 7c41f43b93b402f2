-- wrk script: GET /<code> for the bench's codes in random order (one code per line in $BENCH_CODES).
--
-- From $BENCH_DRAIN_AT (Unix time, seconds) on, requests go to "/-" instead, a path that is not a
-- short code (a 404 that counts no click). wrk abandons the responses still in flight when its
-- time is up; this way those are 404s, and every click the replica counted is a 302 that wrk
-- received, so the master's total can be compared with wrk's own count exactly.
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

function setup(thread)
    thread:set("seed", math.random(1, 1000000))
end

function init(args)
    math.randomseed(seed)
end

function request()
    ffi.C.clock_gettime(CLOCK_REALTIME, now)
    if tonumber(now.tv_sec) + tonumber(now.tv_nsec) / 1e9 >= drain_at then return drain end
    return wrk.format("GET", "/" .. codes[math.random(#codes)])
end
