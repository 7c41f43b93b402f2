-- wrk script: GET /<code> for the bench's codes in random order (one code per line in $BENCH_CODES).
local codes = {}
for line in io.lines(os.getenv("BENCH_CODES")) do codes[#codes + 1] = line end

function setup(thread)
    thread:set("seed", math.random(1, 1000000))
end

function init(args)
    math.randomseed(seed)
end

function request()
    return wrk.format("GET", "/" .. codes[math.random(#codes)])
end
