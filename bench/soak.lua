-- wrk script for bench/soak.sh: bench/webhook-load.lua's pre-signed alerts, paced: each
-- connection waits `pause` ms (third script argument) after every answer, so the rate
-- is about connections * 1000 / (pause + latency) requests per second.
dofile(os.getenv("REVOKD_BENCH_DIR") .. "/webhook-load.lua")

local load_init = init
local pause = 0

function init(args)
  load_init(args)
  pause = tonumber(args[3] or "0")
end

function delay()
  return pause
end
