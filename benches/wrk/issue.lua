-- wrk: POST /oauth2/token, a trusted client's token exchange for one of $USERS seeded users.
local users = tonumber(os.getenv("USERS") or "100")
local auth = "Basic " .. os.getenv("BASIC")
function request()
  local body = string.format(
    "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Atoken-exchange" ..
    "&subject_token_type=urn%%3Ascimitar%%3Aparams%%3Aoauth%%3Atoken-type%%3Ascim-user" ..
    "&subject_token=seed%06d%%40example.com", math.random(0, users - 1))
  return wrk.format("POST", "/oauth2/token",
    {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth}, body)
end

function response(status)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
