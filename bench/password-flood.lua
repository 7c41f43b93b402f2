-- wrk script: wrong passwords posted to the bench's protected links (/pw-000 … /pw-099), each
-- from a client address of its own (replica a believes loopback's X-Forwarded-For), so that the
-- limit per address lets them through to the replica's password checks. Each connection waits
-- $BENCH_FLOOD_DELAY_MS after every answer: with the number of connections, that sets the rate
-- (the bench asks for about 200 a second).
local delay_ms = tonumber(os.getenv("BENCH_FLOOD_DELAY_MS") or "25")
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("lane", threads)
end

local sent = 0

function request()
    sent = sent + 1
    local address = string.format("10.%d.%d.%d", lane, math.floor(sent / 250) % 250, sent % 250 + 1)
    return wrk.format("POST", string.format("/pw-%03d", sent % 100),
        { ["Content-Type"] = "application/x-www-form-urlencoded", ["X-Forwarded-For"] = address },
        "password=not-the-one")
end

function delay()
    return delay_ms
end
