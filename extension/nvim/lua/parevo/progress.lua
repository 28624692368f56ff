-- parevo's work-done progress: one state, echoed and shown in statuslines.
--
-- The standard `$/progress` handler records the server's progress
-- (client.messages on 0.7-0.9, client.progress on 0.10+) and fires
-- `User LspProgressUpdate` / `LspProgress`; this module only listens to those
-- events (statusline plugins keep working) and keeps ONE state, the latest
-- update of parevo's newest search: the echo and `status()` both render it, so
-- they always show the same percentage. Each update redraws statuslines.
local messages = require("parevo.messages")

local M = { current = nil, echo = true }
-- { token, title, message, percentage, done }

--- "<title> 40%: <message>" (echo) and "parevo 40%: <message>" (statusline) of a state.
local function render(s)
  if s == nil then
    return nil, ""
  end
  local pct = (s.percentage and not s.done) and string.format(" %d%%", s.percentage) or ""
  local echo = string.format("%s%s: %s", s.title or "parevo", s.done and " (done)" or pct, s.message or "")
  return echo, string.format("parevo%s: %s", pct, s.message or "")
end

local titles = {} -- `begin` titles by token: `report` and `end` values carry none

local function update(token, kind, value)
  if kind == "begin" then
    titles[token] = value.title
  end
  local cur = M.current
  local pct = value.percentage
  if pct == nil and cur ~= nil and cur.token == token then
    pct = cur.percentage -- a report without a percentage keeps the last one
  end
  M.current = { token = token, title = titles[token] or value.title, message = value.message,
                percentage = pct, done = kind == "end" }
  if M.echo then
    messages.status((render(M.current)))
  end
  pcall(vim.cmd, "redrawstatus!")
end

local function is_parevo(client_id)
  local c = client_id and vim.lsp.get_client_by_id(client_id)
  return c ~= nil and c.name == "parevo"
end

-- 0.7-0.9: what each token last showed, to find the one an update changed
local seen = {}

function M.attach(echo)
  M.echo = echo ~= false
  local group = vim.api.nvim_create_augroup("parevo_progress", { clear = true })
  if vim.fn.has("nvim-0.10") == 1 then
    vim.api.nvim_create_autocmd("LspProgress", {
      group = group,
      callback = function(ev)
        local d = ev.data or {}
        local p = d.params or {}
        local v = p.value or {}
        if is_parevo(d.client_id) and type(v) == "table" and v.kind then
          update(p.token, v.kind, v)
        end
      end,
    })
  else
    vim.api.nvim_create_autocmd("User", {
      group = group,
      pattern = "LspProgressUpdate",
      callback = function()
        -- read client.messages without consuming it (get_progress_messages would)
        for _, c in ipairs(vim.lsp.get_active_clients()) do
          if c.name == "parevo" and c.messages then
            for token, p in pairs(c.messages.progress or {}) do
              local key = table.concat({ tostring(p.message), tostring(p.percentage), tostring(p.done) }, "\1")
              if seen[token] ~= key then
                local kind = p.done and "end" or (seen[token] and "report" or "begin")
                seen[token] = key
                update(token, kind, { title = p.title, message = p.message, percentage = p.percentage })
              end
            end
          end
        end
      end,
    })
  end
end

--- The echoed text of the latest progress (nil when none).
function M.text()
  return (render(M.current))
end

--- The latest parevo progress, short, for a statusline (`%{v:lua.require'parevo'.status()}`).
function M.status()
  local _, short = render(M.current)
  return short
end

return M
