-- wrk script of the soak run: GET /<code> for the soak's codes in random order (one code per line
-- in $BENCH_CODES), each with a Referer host and a User-Agent never seen before, as an anonymous
-- flood would send them, so that every analytics dimension meets more values than its cap.
--
-- Counts the answers of 500 and above, which wrk's own summary lumps in with the 404s and 410s,
-- and prints them as "soak 5xx: <n>".
local codes = {}
for line in io.lines(os.getenv("BENCH_CODES")) do codes[#codes + 1] = line end
local agents = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_%d like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:%d.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel %d) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
    "curl/8.%d.0",
}
local threads = {}

function setup(thread)
    thread:set("seed", math.random(1, 1000000))
    threads[#threads + 1] = thread
end

function init(args)
    math.randomseed(seed)
    server_errors = 0
end

function request()
    local n = math.random(1, 1000000000)
    return wrk.format("GET", "/" .. codes[math.random(#codes)], {
        ["User-Agent"] = string.format(agents[math.random(#agents)], n % 1000),
        ["Referer"] = "https://r" .. n .. ".soak.example/",
    })
end

function response(status, headers, body)
    if status >= 500 then server_errors = server_errors + 1 end
end

function done(summary, latency, requests)
    local total = 0
    for _, thread in ipairs(threads) do total = total + thread:get("server_errors") end
    io.write(string.format("soak 5xx: %d\n", total))
end
