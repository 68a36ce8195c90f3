-- wrk script for bench/webhook-load.sh: cycles through pre-signed partner alerts
-- (requests.tsv: key_id \t signature \t body); each wrk thread starts at its own offset,
-- so the first pass over the file reports fresh keys and later passes repeat sightings.
local requests = {}
local index = 1
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(args[1]) do
    local key_id, signature, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", "/github/secret-scanning", {
      ["Content-Type"] = "application/json",
      ["Github-Public-Key-Identifier"] = key_id,
      ["Github-Public-Key-Signature"] = signature,
    }, body)
  end
  local stride = math.floor(#requests / tonumber(args[2] or "1"))
  index = ((id or 0) * stride) % #requests + 1
end

function request()
  local r = requests[index]
  index = index % #requests + 1
  return r
end
