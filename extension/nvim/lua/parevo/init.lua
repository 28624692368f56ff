-- parevo for Neovim 0.7+: starts `parevo serve` for C and C++ buffers and adds
-- :ParevoParallelize, :ParevoCancel, :ParevoReport, :ParevoDiff, :ParevoApply,
-- :ParevoStatus and :ParevoMessages. Code actions, diagnostics and progress use
-- Neovim's standard LSP handlers. See :help parevo.
local compat = require("parevo.compat")
local actions = require("parevo.actions")
local messages = require("parevo.messages")
local progress = require("parevo.progress")

local M = {}

local defaults = {
  -- the server command; `python` (when set) wins: { python, "-m", "parevo.server.lsp" }
  cmd = { "parevo", "serve" },
  python = nil,
  -- extra environment of the server process, e.g. { PAREVO_CACHE_DIR = "/tmp/cache" }
  cmd_env = nil,
  filetypes = { "c", "cpp", "cuda" },
  root_markers = { ".git", "compile_commands.json", ".parevo" },
  -- the server's settings (section `parevo`): compiler, parlayInclude, threads,
  -- budget = { seconds, candidates }, llm = { baseUrl, model, apiKeyEnv }, eval = {...}, ...
  settings = {},
  -- echo search progress in the command line
  progress = true,
  -- map K to the hover (the evidence) in parevo's buffers on Neovim < 0.10, where K
  -- runs 'keywordprg' unless mapped (0.10+ maps K to the LSP hover itself)
  hover_key = "K",
  on_attach = nil,
  capabilities = nil,
  handlers = nil,
}

M.config = vim.deepcopy(defaults)

local warned = false

local islist = vim.islist or vim.tbl_islist

--- `v` as it must reach the server: tables that are not lists become JSON objects even when empty
--- (Lua's `{}` is encoded as `[]`, which the server would refuse as settings).
local function as_object(v)
  if type(v) ~= "table" then
    return vim.empty_dict()
  end
  local out = vim.empty_dict()
  for k, x in pairs(v) do
    if type(x) == "table" and (next(x) == nil or not islist(x)) then
      out[k] = as_object(x)
    else
      out[k] = x
    end
  end
  return out
end
M._as_object = as_object

--- The plugin's doc folder (…/extension/nvim/doc), from this file's path.
local function doc_dir()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  return vim.fn.fnamemodify(src, ":p:h:h:h") .. "/doc"
end

--- `:help parevo` works without a plugin manager: build doc/tags when missing or older than the help file.
local function ensure_helptags()
  local dir = doc_dir()
  local txt, tags = dir .. "/parevo.txt", dir .. "/tags"
  if vim.fn.filereadable(txt) ~= 1 then
    return
  end
  if vim.fn.filereadable(tags) ~= 1 or vim.fn.getftime(tags) < vim.fn.getftime(txt) then
    pcall(vim.cmd, "silent! helptags " .. vim.fn.fnameescape(dir))
  end
end

--- K shows the hover (the evidence) in `bufnr` on Neovim < 0.10, unless the buffer maps K already.
local function map_hover(bufnr)
  local key = M.config.hover_key
  if not key or key == "" or vim.fn.has("nvim-0.10") == 1 then
    return
  end
  local existing = vim.fn.maparg(key, "n", false, true)
  if type(existing) == "table" and existing.buffer == 1 then
    return
  end
  vim.keymap.set("n", key, vim.lsp.buf.hover, { buffer = bufnr, desc = "parevo: hover (the evidence)" })
end

local function server_cmd(cfg)
  if cfg.python and cfg.python ~= "" then
    return { cfg.python, "-m", "parevo.server.lsp" }
  end
  return cfg.cmd
end

--- Start (or reuse) the server for buffer `bufnr` and attach it; returns the client id or nil.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local path = vim.api.nvim_buf_get_name(bufnr)
  if path == "" or vim.bo[bufnr].buftype ~= "" then
    return nil
  end
  local cfg = M.config
  local cmd = server_cmd(cfg)
  if vim.fn.executable(cmd[1]) ~= 1 then
    if not warned then
      warned = true
      messages.say(string.format("parevo: cannot start the language server: %q is not executable. "
        .. "Install it (pip install parevo) or call require('parevo').setup({ cmd = {...} }) "
        .. "or setup({ python = '/path/to/python' }) with a Python that has parevo.", cmd[1]), vim.log.levels.ERROR)
    end
    return nil
  end
  local settings = as_object(cfg.settings)
  local user_attach = cfg.on_attach
  local config = {
    name = "parevo",
    cmd = cmd,
    cmd_env = cfg.cmd_env,
    root_dir = compat.find_root(path, cfg.root_markers),
    -- 0.7 does not answer workspace/configuration: the server reads initializationOptions too
    init_options = settings,
    settings = { parevo = settings },
    capabilities = cfg.capabilities,
    -- the server's messages on one line (no Press-ENTER prompt); the user's handlers win
    handlers = vim.tbl_extend("force", { ["window/showMessage"] = messages.show_message_handler },
      cfg.handlers or {}),
    on_attach = function(client, b)
      map_hover(b)
      if user_attach then
        user_attach(client, b)
      end
    end,
  }
  return compat.start(config, bufnr)
end

--- Change the server's settings while it runs (workspace/didChangeConfiguration).
function M.update_settings(settings)
  M.config.settings = vim.tbl_deep_extend("force", M.config.settings or {}, settings or {})
  local obj = as_object(M.config.settings)
  for _, c in ipairs(compat.clients()) do
    c.config.settings = { parevo = obj }
    compat.notify(c, "workspace/didChangeConfiguration", { settings = { parevo = obj } })
  end
end

--- The latest search progress, for a statusline.
function M.status()
  return progress.status()
end

local commands = {
  { "ParevoParallelize", actions.parallelize, { range = true, desc = "parevo: parallelize the loop at the cursor" } },
  { "ParevoCancel", actions.cancel, { range = true, bang = true, desc = "parevo: cancel the search (! all)" } },
  { "ParevoReport", actions.report, { desc = "parevo: show the report of the loop at the cursor" } },
  { "ParevoDiff", actions.diff, { range = true, desc = "parevo: show the verified rewrite as a diff" } },
  { "ParevoApply", actions.apply, { range = true, desc = "parevo: apply the verified rewrite" } },
  { "ParevoStatus", actions.status, { desc = "parevo: toolchain and searches" } },
  { "ParevoMessages", messages.show_log, { desc = "parevo: this session's messages, in full" } },
}

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  -- lists replace, not merge
  for _, k in ipairs({ "cmd", "filetypes", "root_markers" }) do
    if opts and opts[k] then
      M.config[k] = opts[k]
    end
  end
  for _, c in ipairs(commands) do
    vim.api.nvim_create_user_command(c[1], c[2], c[3])
  end
  ensure_helptags()
  local group = vim.api.nvim_create_augroup("parevo", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes,
    callback = function(ev)
      M.attach(ev.buf)
    end,
  })
  progress.attach(M.config.progress)
  -- buffers opened before setup() (e.g. lazy-loading on filetype)
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.tbl_contains(M.config.filetypes, vim.bo[b].filetype) then
      M.attach(b)
    end
  end
end

return M
