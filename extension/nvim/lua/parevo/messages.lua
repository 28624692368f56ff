-- parevo's messages: one line each, never a Press-ENTER prompt.
--
-- Neovim stops at a hit-enter prompt when a message is wider than the command
-- line or when two messages arrive before a redraw. Every message of the plugin
-- and of the server (window/showMessage) goes through `say`: with Neovim's own
-- vim.notify it is echoed as one line that fits (after a redraw, so it replaces
-- the previous one); a vim.notify replaced by a plugin (nvim-notify, noice...)
-- gets the full text. The full texts stay in `:ParevoMessages`.
local M = { log = {} }

local MAX_LOG = 200
local HL = { [vim.log.levels.ERROR] = "ErrorMsg", [vim.log.levels.WARN] = "WarningMsg" }

--- True when vim.notify is Neovim's own (defined in the runtime's vim/_editor.lua).
local function builtin_notify()
  local ok, info = pcall(debug.getinfo, vim.notify, "S")
  return ok and info ~= nil and type(info.source) == "string" and info.source:find("vim/_editor.lua", 1, true) ~= nil
end

--- `text` on one line, cut to fit the command line (`…` when cut).
function M.one_line(text)
  local line = tostring(text):gsub("%s*\n%s*", " ")
  local width = (vim.v.echospace and vim.v.echospace > 0) and vim.v.echospace or (vim.o.columns - 12)
  width = math.max(width, 10)
  if vim.fn.strdisplaywidth(line) > width then
    line = vim.fn.strcharpart(line, 0, width - 1) .. "…"
  end
  return line
end

local function echo(line, hl, history)
  vim.cmd("redraw") -- the previous message is replaced, not stacked above a prompt
  vim.api.nvim_echo({ { line, hl } }, history, {})
end

--- Show `msg` (one line on Neovim's own vim.notify; the full text to a replaced one); keep it in the log.
function M.say(msg, level)
  level = level or vim.log.levels.INFO
  table.insert(M.log, { time = os.date("%H:%M:%S"), level = level, text = msg })
  if #M.log > MAX_LOG then
    table.remove(M.log, 1)
  end
  if not builtin_notify() then
    return vim.notify(msg, level, { title = "parevo" })
  end
  local line = M.one_line(msg)
  if vim.in_fast_event() then
    return vim.schedule(function() echo(line, HL[level], true) end)
  end
  echo(line, HL[level], true)
end

--- A transient one-line status (progress): replaces the command line, not kept in :messages.
function M.status(text)
  local line = M.one_line(text)
  if vim.in_fast_event() then
    return vim.schedule(function() echo(line, "ModeMsg", false) end)
  end
  echo(line, "ModeMsg", false)
end

local LSP_LEVEL = { vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO, vim.log.levels.DEBUG }

--- The client's `window/showMessage` handler: the server's messages through `say`.
function M.show_message_handler(_, result, ctx)
  if not result or not result.message then
    return
  end
  local text = result.message
  if not text:find("^parevo") then
    text = "parevo: " .. text
  end
  M.say(text, LSP_LEVEL[result.type] or vim.log.levels.INFO)
  return vim.NIL
end

--- :ParevoMessages: every message of this session, in full, in a scratch buffer.
function M.show_log()
  local lines = {}
  for _, m in ipairs(M.log) do
    local level = ({ [vim.log.levels.ERROR] = "E", [vim.log.levels.WARN] = "W" })[m.level] or "I"
    for k, l in ipairs(vim.split(m.text, "\n", { plain = true })) do
      table.insert(lines, (k == 1 and (m.time .. " " .. level .. " ") or "           ") .. l)
    end
  end
  if #lines == 0 then
    lines = { "(no parevo messages yet)" }
  end
  M.float(lines, "parevo-messages")
end

--- A floating window with `lines` (closes with q or on leaving it).
function M.float(lines, focus_id)
  local _, win = vim.lsp.util.open_floating_preview(lines, "", { border = "rounded", focus_id = focus_id,
    max_width = math.max(40, vim.o.columns - 10), max_height = math.max(10, vim.o.lines - 6) })
  return win
end

return M
