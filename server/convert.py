"""parevo's positions (byte offsets into the UTF-8 text, 0-based lines) → LSP positions, at the edge.

Inside parevo a place is a byte span of a text whose content hash is known
(:class:`~parevo.toolchain.splice.TextEdit`, the site's spans). LSP columns
count code units of the negotiated position encoding (UTF-16 unless the client
chose another): pygls's own :class:`~pygls.workspace.PositionCodec` counts
them; this module only finds the line and the code points before the offset.
Pure functions.
"""

from __future__ import annotations

from functools import cached_property, lru_cache

from lsprotocol import types
from pygls.workspace import PositionCodec
from pygls.workspace.position_codec import ServerTextPosition

from parevo.toolchain.splice import TextEdit

UTF16 = types.PositionEncodingKind.Utf16


@lru_cache(maxsize=8)
def codec(encoding: str = UTF16) -> PositionCodec:
    """pygls's position codec for ``encoding``."""
    return PositionCodec(encoding)


class TextPositions:
    """LSP positions in one text, for one position encoding.

    Lines are split at ``\\n`` only (as C++ compilers and tree-sitter count
    them); a ``\\r`` before it belongs to the line's text.
    """

    def __init__(self, source: str, encoding: str = UTF16) -> None:
        self.source = source
        self.codec = codec(encoding)

    @cached_property
    def lines(self) -> list[str]:
        """The text's lines, without their ``\\n``."""
        return self.source.split("\n")

    @cached_property
    def data(self) -> bytes:
        """The text's UTF-8 bytes (what byte offsets index)."""
        return self.source.encode("utf-8")

    def _position(self, line: int, column: int) -> types.Position:
        """Line ``line`` at code point ``column`` → client units."""
        return self.codec.position_to_client_units(self.lines, ServerTextPosition(line=line, character=column))

    def at_char(self, index: int) -> types.Position:
        """The position of code point ``index`` of the text (clamped to the text)."""
        index = max(0, min(index, len(self.source)))
        line = self.source.count("\n", 0, index)
        return self._position(line, index - (self.source.rfind("\n", 0, index) + 1))

    def at_byte(self, offset: int) -> types.Position:
        """The position of UTF-8 byte ``offset`` of the text (clamped; inside a character: its start)."""
        data = self.data
        offset = max(0, min(offset, len(data)))
        line = data.count(b"\n", 0, offset)
        start = data.rfind(b"\n", 0, offset) + 1
        return self._position(line, len(data[start:offset].decode("utf-8", errors="ignore")))

    def line_range(self, line: int, col: int | None = None) -> types.Range:
        """Line ``line`` without its indentation (from code point ``col`` when given) to its end."""
        if not 0 <= line < len(self.lines):
            at = types.Position(line=max(line, 0), character=0)
            return types.Range(start=at, end=at)
        text = self.lines[line].rstrip("\r")
        start = len(text) - len(text.lstrip()) if col is None else max(0, min(col, len(text)))
        return types.Range(start=self._position(line, start), end=self._position(line, len(text)))

    def edits(self, edits: list[TextEdit]) -> list[types.TextEdit]:
        """LSP text edits for parevo ``edits`` (byte spans of this text), in text order."""
        return [types.TextEdit(range=types.Range(start=self.at_byte(e.start_byte), end=self.at_byte(e.end_byte)),
                               new_text=e.new_text) for e in sorted(edits, key=lambda e: e.start_byte)]


def char_to_position(source: str, index: int, encoding: str = UTF16) -> types.Position:
    """The LSP position of code point ``index`` of ``source``."""
    return TextPositions(source, encoding).at_char(index)


def byte_to_position(source: str, offset: int, encoding: str = UTF16) -> types.Position:
    """The LSP position of UTF-8 byte ``offset`` of ``source``."""
    return TextPositions(source, encoding).at_byte(offset)


def line_range(source: str, line: int, encoding: str = UTF16, col: int | None = None) -> types.Range:
    """A range over line ``line`` (0-based) without its indentation, or from 0-based
    code point column ``col`` to the end of the line when given."""
    return TextPositions(source, encoding).line_range(line, col)


def to_lsp_edits(source: str, edits: list[TextEdit], encoding: str = UTF16) -> list[types.TextEdit]:
    """LSP text edits for parevo ``edits`` computed against ``source`` (byte offsets)."""
    return TextPositions(source, encoding).edits(edits)


def workspace_edit(uri: str, version: int | None, edits: list[types.TextEdit]) -> types.WorkspaceEdit:
    """One versioned ``WorkspaceEdit`` holding ``edits`` for document ``uri``."""
    return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), edits=edits)])
