-- Echo parevo's work-done progress in the command line. The standard
-- `$/progress` handler records it (client.messages on 0.7-0.9, client.progress
-- on 0.10+) and fires `User LspProgressUpdate` / `LspProgress`; this only
-- listens to those events, so statusline plugins keep working as usual.
local M = { last = nil, short = nil } -- the latest progress text, and its short form (statuslines)

local function show(text, short)
  M.short = short or M.short
  if text == nil or text == M.last then
    return
  end
  M.last = text
  -- one line that fits: a longer message would stop the editor at a hit-enter prompt
  local width = (vim.v.echospace and vim.v.echospace > 0) and vim.v.echospace or (vim.o.columns - 12)
  local line = text:gsub("\n", " ")
  if vim.fn.strdisplaywidth(line) > width then
    line = vim.fn.strcharpart(line, 0, math.max(width - 1, 1)) .. "…"
  end
  vim.api.nvim_echo({ { line, "ModeMsg" } }, false, {})
end

--- The echoed text ("<title> 40%: <message>") and the statusline's ("parevo 40%: <message>").
local function format(title, message, percentage, done)
  local pct = percentage and string.format(" %d%%", percentage) or ""
  local state = done and " (done)" or pct
  return string.format("%s%s: %s", title or "parevo", state, message or ""),
    string.format("parevo%s: %s", done and "" or pct, message or "")
end

local function is_parevo(client_id)
  local c = client_id and vim.lsp.get_client_by_id(client_id)
  return c ~= nil and c.name == "parevo"
end

-- `begin` titles by token: `report` and `end` values carry no title
local titles = {}
-- 0.7-0.9: tokens whose end was shown
local ended = {}

function M.attach()
  local group = vim.api.nvim_create_augroup("parevo_progress", { clear = true })
  if vim.fn.has("nvim-0.10") == 1 then
    vim.api.nvim_create_autocmd("LspProgress", {
      group = group,
      callback = function(ev)
        local d = ev.data or {}
        local p = d.params or {}
        local v = p.value or {}
        if not is_parevo(d.client_id) or type(v) ~= "table" then
          return
        end
        if v.kind == "begin" then
          titles[p.token] = v.title
        end
        show(format(titles[p.token], v.message, v.percentage, v.kind == "end"))
      end,
    })
  else
    vim.api.nvim_create_autocmd("User", {
      group = group,
      pattern = "LspProgressUpdate",
      callback = function()
        -- read client.messages without consuming it (get_progress_messages would)
        local clients = vim.lsp.get_active_clients()
        for _, c in ipairs(clients) do
          if c.name == "parevo" and c.messages then
            for token, p in pairs(c.messages.progress or {}) do
              -- finished entries stay in client.messages: show each end once
              if not p.done or not ended[token] then
                ended[token] = p.done or nil
                show(format(p.title, p.message, p.percentage, p.done))
              end
            end
          end
        end
      end,
    })
  end
end

--- The latest parevo progress, short, for a statusline (`%{v:lua.require'parevo'.status()}`).
function M.status()
  return M.short or ""
end

return M
