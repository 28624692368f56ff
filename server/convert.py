"""Conversions between parevo's positions (byte offsets, 0-based lines) and LSP types.

Pure functions. LSP columns count code units of the negotiated position
encoding (UTF-16 unless the client asked for another); parevo's
:class:`~parevo.toolchain.splice.TextEdit` carries byte offsets into the UTF-8
text, which is what these helpers translate from.
"""

from __future__ import annotations

from lsprotocol import types

from parevo.toolchain.splice import TextEdit


def _units(text: str, encoding: str) -> int:
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8"))
    if encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def char_to_position(source: str, index: int, encoding: str = types.PositionEncodingKind.Utf16) -> types.Position:
    """The LSP position of character ``index`` of ``source``."""
    index = max(0, min(index, len(source)))
    line = source.count("\n", 0, index)
    line_start = source.rfind("\n", 0, index) + 1
    return types.Position(line=line, character=_units(source[line_start:index], encoding))


def byte_to_char(source: str, byte_offset: int) -> int:
    """The character index of UTF-8 byte offset ``byte_offset`` in ``source``."""
    return len(source.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


def line_range(source: str, line: int, encoding: str = types.PositionEncodingKind.Utf16,
               col: int | None = None) -> types.Range:
    """A range over line ``line`` (0-based) without its indentation, or from 0-based
    character column ``col`` to the end of the line when given."""
    lines = source.split("\n")
    if not 0 <= line < len(lines):
        return types.Range(start=types.Position(line=max(line, 0), character=0),
                           end=types.Position(line=max(line, 0), character=0))
    text = lines[line].rstrip("\r")
    start = len(text) - len(text.lstrip()) if col is None else max(0, min(col, len(text)))
    return types.Range(start=types.Position(line=line, character=_units(text[:start], encoding)),
                       end=types.Position(line=line, character=_units(text, encoding)))


def to_lsp_edits(source: str, edits: list[TextEdit],
                 encoding: str = types.PositionEncodingKind.Utf16) -> list[types.TextEdit]:
    """LSP text edits for parevo ``edits`` computed against ``source`` (byte offsets)."""
    out = []
    for e in sorted(edits, key=lambda e: e.start_byte):
        start = char_to_position(source, byte_to_char(source, e.start_byte), encoding)
        end = char_to_position(source, byte_to_char(source, e.end_byte), encoding)
        out.append(types.TextEdit(range=types.Range(start=start, end=end), new_text=e.new_text))
    return out


def workspace_edit(uri: str, version: int | None, edits: list[types.TextEdit]) -> types.WorkspaceEdit:
    """One versioned ``WorkspaceEdit`` holding ``edits`` for document ``uri``."""
    return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), edits=edits)])
