"""A `.env` parser with godotenv's semantics, whose errors name a line number and a rule but never a value.

Follows github.com/joho/godotenv (v1.5 parser.go), which Gopherbot uses:

- blank lines and lines starting with ``#`` are skipped; an optional ``export `` prefix is dropped;
- ``KEY=VALUE`` or the yaml-ish ``KEY: VALUE``; spaces around the key and the value are trimmed; a later
  assignment of the same key wins; names hold ASCII letters and digits, ``_`` and ``.`` (godotenv also
  allows non-ASCII letters, which a Kubernetes Secret key cannot hold);
- unquoted values end at the line end; the LAST `` #`` (space then hash) starts an inline comment (a ``#`` that
  is the value's first character is kept, as in godotenv);
- ``'single quoted'`` values are literal and may span lines;
- ``"double quoted"`` values may span lines and unescape ``\\n`` (newline), ``\\r`` (carriage return), and any
  other ``\\X`` to ``X`` (so ``\\"`` and ``\\\\``);
- ``$NAME`` and ``${NAME}`` (NAME of ``A-Z0-9_``) in unquoted and double-quoted values expand to a variable
  defined EARLIER in the same file, or to "" (godotenv would also look at the process environment; the operator's
  own environment must never leak into a robot, so it does not); ``\\$`` is a literal ``$``.

Deliberate differences from godotenv, each refusing input godotenv would silently mangle: a line without ``=`` or
``:`` is an error (godotenv may take it as a value of an empty name); text after a closing quote other than a
comment is an error; a double-quoted value ends at the first unescaped quote (godotenv is confused by ``"a\\\\"``);
only a whole line ``---`` is a yaml document separator (godotenv deletes ``---`` followed by a newline anywhere).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_NAME = re.compile(r"[A-Za-z0-9_.]+")
_EXPANSION = re.compile(r"\$(?:\{([A-Z0-9_]+)\}|([A-Z0-9_]+))")
_INLINE_SPACE = frozenset("\t\v\f\r \x85\xa0")
_EXPORT = "export"


class DotenvError(ValueError):
    """A `.env` line breaks a rule; ``str()`` is ``line N: <rule>`` and never holds any part of a value or key."""

    def __init__(self, line: int, rule: str) -> None:
        super().__init__(f"line {line}: {rule}")
        self.line = line
        self.rule = rule


def parse(text: str) -> dict[str, str]:
    """Parse `.env` text into variables (in file order); raises DotenvError for the first bad line."""
    return parse_with_lines(text)[0]


def parse_with_lines(text: str) -> tuple[dict[str, str], dict[str, int]]:
    """Like `parse`, plus the line number of each variable's (last) assignment, for value-free messages."""
    parser = _Parser(text.replace("\r\n", "\n"))
    return parser.run(), parser.lines


class _Parser:
    """One pass over the text; `pos` is the index of the next unread character."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.variables: dict[str, str] = {}
        self.lines: dict[str, int] = {}

    def run(self) -> dict[str, str]:
        while self._skip_to_statement():
            if self._at_document_separator():
                continue
            start_line = self._line_of(self.pos)
            key = self._read_key(start_line)
            self.variables[key] = self._read_value(start_line)
            self.lines[key] = start_line
        return self.variables

    def _line_of(self, index: int) -> int:
        return self.text.count("\n", 0, index) + 1

    def _line_end(self, index: int) -> int:
        end = self.text.find("\n", index)
        return len(self.text) if end == -1 else end

    def _skip_to_statement(self) -> bool:
        """Skip whitespace, blank lines and comment lines; False at the end of the text."""
        text = self.text
        while self.pos < len(text):
            if text[self.pos].isspace():
                self.pos += 1
            elif text[self.pos] == "#":
                self.pos = self._line_end(self.pos)
            else:
                return True
        return False

    def _at_document_separator(self) -> bool:
        end = self._line_end(self.pos)
        if self.text[self.pos : end].strip() == "---":
            self.pos = end
            return True
        return False

    def _skip_inline_space(self, index: int) -> int:
        while index < len(self.text) and self.text[index] in _INLINE_SPACE:
            index += 1
        return index

    def _read_key(self, line: int) -> str:
        text = self.text
        start = self.pos
        after_export = start + len(_EXPORT)
        if text.startswith(_EXPORT, start) and after_export < len(text) and text[after_export] in _INLINE_SPACE:
            start = self._skip_inline_space(after_export)
        end = start
        while end < len(text) and text[end] not in "=:\n":
            end += 1
        if end >= len(text) or text[end] == "\n":
            raise DotenvError(line, "expected KEY=VALUE or KEY: VALUE (no '=' or ':' on the line)")
        key = text[start:end].strip("".join(_INLINE_SPACE))
        if not key:
            raise DotenvError(line, "the variable name is empty")
        if not _NAME.fullmatch(key):
            raise DotenvError(line, "a variable name may hold only letters, digits, '_' and '.'")
        self.pos = end + 1
        return key

    def _read_value(self, line: int) -> str:
        start = self._skip_inline_space(self.pos)
        quote = self.text[start] if start < len(self.text) else ""
        if quote == "'":
            return self._read_single_quoted(start, line)
        if quote == '"':
            return self._read_double_quoted(start, line)
        return self._read_unquoted(start)

    def _read_unquoted(self, start: int) -> str:
        end = start
        while end < len(self.text) and self.text[end] not in "\n\r":
            end += 1
        raw = self.text[start:end]
        self.pos = end
        for index in range(len(raw) - 1, 0, -1):
            if raw[index] == "#" and raw[index - 1] in _INLINE_SPACE:
                raw = raw[:index]
                break
        return _expand(raw.strip("".join(_INLINE_SPACE)), self.variables, unescape=False)

    def _read_single_quoted(self, start: int, line: int) -> str:
        index = start + 1
        while index < len(self.text):
            if self.text[index] == "'" and self.text[index - 1] != "\\":
                self._finish_quoted(index, line)
                return self.text[start + 1 : index]
            index += 1
        raise DotenvError(line, "the single-quoted value has no closing quote")

    def _read_double_quoted(self, start: int, line: int) -> str:
        index = start + 1
        while index < len(self.text):
            char = self.text[index]
            if char == "\\":
                index += 2
                continue
            if char == '"':
                self._finish_quoted(index, line)
                return _expand(self.text[start + 1 : index], self.variables, unescape=True)
            index += 1
        raise DotenvError(line, "the double-quoted value has no closing quote")

    def _finish_quoted(self, closing: int, line: int) -> None:
        after = self._skip_inline_space(closing + 1)
        if after < len(self.text) and self.text[after] not in "\n#":
            raise DotenvError(self._line_of(closing), "unexpected text after the closing quote")
        self.pos = after


def _expand(raw: str, variables: Mapping[str, str], *, unescape: bool) -> str:
    """Expand $NAME/${NAME} from `variables`; `\\$` is a literal `$`; with `unescape`, process `\\` escapes."""
    out: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            follower = raw[index + 1]
            if follower == "$":
                out.append("$")
            elif unescape:
                out.append({"n": "\n", "r": "\r"}.get(follower, follower))
            else:
                out.append(char + follower)
            index += 2
            continue
        match = _EXPANSION.match(raw, index) if char == "$" else None
        if match:
            out.append(variables.get(match.group(1) or match.group(2), ""))
            index = match.end()
            continue
        out.append(char)
        index += 1
    return "".join(out)
