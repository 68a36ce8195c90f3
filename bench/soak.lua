-- wrk script for bench/soak.sh: bench/webhook-load.lua's pre-signed alerts, paced to a
-- fixed rate: each wrk thread sends its requests on a schedule of one every `interval`
-- ms (third script argument, float), shared by the thread's connections. A request
-- whose slot has passed (the daemon was slow) goes at once, without a burst to catch
-- up, so the achieved rate is the asked one unless the daemon cannot keep up.
dofile(os.getenv("REVOKD_BENCH_DIR") .. "/webhook-load.lua")

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } soak_timespec;
int clock_gettime(int clock_id, soak_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local clock = ffi.new("soak_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local load_init = init
local interval = 0
local next_slot = nil

function init(args)
  load_init(args)
  interval = tonumber(args[3] or "0")
end

function delay()
  local now = now_ms()
  next_slot = math.max((next_slot or now) + interval, now)
  return math.floor(next_slot - now)
end
