-- Shims over the Neovim LSP API differences between 0.7 and 0.11+.
local M = {}

local has_011 = vim.fn.has("nvim-0.11") == 1

--- The parevo client attached to `bufnr` (or nil).
function M.client(bufnr)
  if vim.lsp.get_clients then -- 0.10+
    return vim.lsp.get_clients({ bufnr = bufnr, name = "parevo" })[1]
  end
  for _, c in pairs(vim.lsp.buf_get_clients(bufnr) or {}) do -- 0.7 - 0.9
    if c.name == "parevo" then
      return c
    end
  end
  return nil
end

--- `client:request` (0.11 method syntax) or `client.request` (before).
function M.request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- `client:notify` (0.11) or `client.notify` (before).
function M.notify(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- Every running parevo client.
function M.clients()
  local all = vim.lsp.get_clients and vim.lsp.get_clients({ name = "parevo" }) or vim.lsp.get_active_clients()
  return vim.tbl_filter(function(c) return c.name == "parevo" end, all)
end

--- Start the server for `bufnr` (reusing the client of the same root), attach it; returns the client id.
local by_root = {} -- 0.7 only: root_dir -> client id
function M.start(config, bufnr)
  if vim.lsp.start then -- 0.8+: reuses a client of the same name and root_dir
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = by_root[config.root_dir]
  local client = id and vim.lsp.get_client_by_id(id)
  if client == nil or (client.is_stopped and client.is_stopped()) then
    id = vim.lsp.start_client(config)
    if id == nil then
      return nil
    end
    by_root[config.root_dir] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

--- The nearest parent directory of `path` holding one of `markers`, else the file's directory.
function M.find_root(path, markers)
  local dir = vim.fn.fnamemodify(path, ":p:h")
  local d = dir
  while true do
    for _, m in ipairs(markers) do
      if vim.loop.fs_stat(d .. "/" .. m) then
        return d
      end
    end
    local parent = vim.fn.fnamemodify(d, ":h")
    if parent == d then
      return dir
    end
    d = parent
  end
end

function M.json_decode(s)
  if vim.json and vim.json.decode then
    return vim.json.decode(s)
  end
  return vim.fn.json_decode(s)
end

return M
