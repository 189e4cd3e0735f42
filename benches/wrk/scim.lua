-- wrk: one SCIM workload against any SCIM server, chosen by $MODE (benches/peers.sh).
--   load        POST $BASE/Users for seed users 0..$USERS-1 (userName seedNNNNNN@example.com,
--               externalId extNNNNNN), writing each created id to $IDS; stops after $USERS
--               answers (run it with -t1)
--   username    GET $BASE/Users?filter=userName eq "seedNNNNNN@example.com"
--   externalid  GET $BASE/Users?filter=externalId eq "extNNNNNN"
--   id          GET $BASE/Users/{id} for ids read from $IDS
--   create      POST $BASE/Users with a userName unique per run ($TAG), thread and request
--   deactivate  PATCH $BASE/Users/{id} replacing active with false, for the ids read from $IDS
--               in order from line $START (wrapping), so each run deactivates users still active
-- $TOKEN is sent as a bearer token, or each of $TOKENS (space-separated; one per tenant) in
-- turn, request by request; $BASE is the SCIM base path (default /scim/v2).
local mode = os.getenv("MODE") or "username"
local base = os.getenv("BASE") or "/scim/v2"
local users = tonumber(os.getenv("USERS") or "1000")
local tag = os.getenv("TAG") or "0"
local headers = {
  ["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "bench"),
  ["Content-Type"] = "application/scim+json",
}
local schema = '"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]'
local tokens = {}
for token in string.gmatch(os.getenv("TOKENS") or "", "%S+") do tokens[#tokens + 1] = token end
local start = tonumber(os.getenv("START") or "0")
local deactivate = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}'

local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

local ids = {}
if mode == "id" or mode == "deactivate" then
  for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
end

local counter = 0
local created = 0
local out = nil

function init(args)
  if mode == "load" then out = io.open(os.getenv("IDS"), "w") end
end

function request()
  counter = counter + 1
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1]
  end
  if mode == "load" then
    local i = (counter - 1) % users
    local body = string.format(
      '{%s,"userName":"seed%06d@example.com","externalId":"ext%06d","name":{"givenName":"Seed","familyName":"N%06d"},"emails":[{"value":"seed%06d@example.com","type":"work","primary":true}],"active":true}',
      schema, i, i, i, i)
    return wrk.format("POST", base .. "/Users", headers, body)
  elseif mode == "create" then
    local body = string.format('{%s,"userName":"bench-%s-%d-%d@example.com","title":"load"}',
      schema, tag, tid, counter)
    return wrk.format("POST", base .. "/Users", headers, body)
  elseif mode == "externalid" then
    local path = string.format("%s/Users?filter=externalId%%20eq%%20%%22ext%06d%%22", base,
      math.random(0, users - 1))
    return wrk.format("GET", path, headers)
  elseif mode == "id" then
    return wrk.format("GET", base .. "/Users/" .. ids[math.random(1, #ids)], headers)
  elseif mode == "deactivate" then
    local id = ids[((start + counter - 1) % #ids) + 1]
    return wrk.format("PATCH", base .. "/Users/" .. id, headers, deactivate)
  else
    local path = string.format("%s/Users?filter=userName%%20eq%%20%%22seed%06d%%40example.com%%22",
      base, math.random(0, users - 1))
    return wrk.format("GET", path, headers)
  end
end

if mode == "load" then
  function response(status, _, body)
    if status == 201 and out then
      local id = string.match(body, '"id"%s*:%s*"([^"]+)"')
      if id then
        out:write(id, "\n")
        created = created + 1
      end
    end
    if created >= users and out then
      out:close()
      out = nil
      wrk.thread:stop()
    end
  end
end
