"""Find the line of every key in a TOML text, so a complaint about a value can name the line it is on.

tomllib reports a line only for syntax errors. For a value that parses but is wrong (a threshold of "high"),
this reads the raw text once: it follows table headers (counting `[[rules]]` items), key lines and dotted
keys, and skips the inside of values that span lines (arrays, multi-line strings), so a line such as
`["1h", "5m"],` inside an array is never taken for a table header.
"""
from __future__ import annotations

Path = tuple[str | int, ...]


def key_lines(*, text: str) -> dict[Path, int]:
    """Map each key path (("rules", 3, "threshold")) to the 1-based line where it first appears."""
    lines: dict[Path, int] = {}
    arrays: dict[Path, int] = {}  # path of an array of tables -> how many items its headers opened so far
    current: Path = ()
    depth, string = 0, ""  # brackets still open, and the delimiter of an open multi-line string
    for number, raw in enumerate(text.splitlines(), 1):
        if depth or string:
            depth, string = _scan(raw, depth, string)
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[["):
            parts = _split_key(line[2:line.find("]]")])
            array = _resolve(parts[:-1], arrays) + (parts[-1],)
            index = arrays.get(array, 0)
            arrays[array] = index + 1
            current = array + (index,)
            _record(lines, current, number)
        elif line.startswith("["):
            current = _resolve(_split_key(line[1:line.find("]")]), arrays)
            _record(lines, current, number)
        else:
            equals = _find_outside_quotes(line, "=")
            if equals < 0:
                continue
            _record(lines, current + tuple(_split_key(line[:equals])), number)
            depth, string = _scan(line[equals + 1:], 0, "")
    return lines


def line_of(*, lines: dict[Path, int], path: Path) -> int:
    """Return the line of the key, else of the nearest enclosing key or table that is written in the file."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return 1


def _record(lines: dict[Path, int], path: Path, number: int) -> None:
    # A table's first mention wins: `[severity.SEV1]` is where "severity" itself is introduced.
    for end in range(1, len(path) + 1):
        lines.setdefault(path[:end], number)
    lines[path] = lines.get(path, number)


def _resolve(parts: list[str], arrays: dict[Path, int]) -> Path:
    # `[rules.match]` after the fourth `[[rules]]` belongs to rules[3]: step into the array's latest item.
    path: Path = ()
    for part in parts:
        path += (part,)
        if path in arrays:
            path += (arrays[path] - 1,)
    return path


def _split_key(text: str) -> list[str]:
    parts, buffer, quote = [], [], ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
            else:
                buffer.append(char)
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append("".join(buffer).strip())
            buffer = []
        else:
            buffer.append(char)
    parts.append("".join(buffer).strip())
    return parts


def _find_outside_quotes(text: str, wanted: str) -> int:
    quote = ""
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#":
            return -1
        elif char == wanted:
            return index
    return -1


def _scan(text: str, depth: int, string: str) -> tuple[int, str]:
    """Follow brackets and strings through one line; return what is still open at its end."""
    index, size = 0, len(text)
    while index < size:
        if string:
            end = text.find(string, index)
            if end < 0:
                return depth, string
            index, string = end + 3, ""
            continue
        char = text[index]
        if char == "#":
            break
        if text.startswith('"""', index) or text.startswith("'''", index):
            string, index = text[index:index + 3], index + 3
            continue
        if char in "\"'":
            index = _skip_string(text, index)
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        index += 1
    return depth, string


def _skip_string(text: str, start: int) -> int:
    quote, index = text[start], start + 1
    while index < len(text):
        if text[index] == "\\" and quote == '"':
            index += 2
            continue
        if text[index] == quote:
            return index + 1
        index += 1
    return index
