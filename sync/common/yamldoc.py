"""Load YAML keeping the line of every key.

``yaml.safe_load`` throws positions away, so a config or mapping error could only say *what* is
wrong, never *where*. This module composes the document with a ``SafeLoader`` subclass (safe tags
only: no Python objects, ever), builds plain Python values from the node tree and keeps a side
table ``key path -> line`` so validators can report ``file:line: key.path: message``
(:mod:`sync.common.problems`). It lives outside ``sync.mapping`` so the config loader can use it
without importing the mapping language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sync.common.errors import YamlSyntaxError
from sync.common.textfile import read_text

KeyPath = tuple[str | int, ...]

# A config or mapping is a small file: these caps stop alias bombs and self-referencing anchors
# early.
MAX_NODES = 50_000
MAX_DEPTH = 40


class PositionLoader(yaml.SafeLoader):
    """A SafeLoader: resolves only the safe YAML tags; used to compose nodes with marks."""


@dataclass
class YamlDoc:
    """Plain data of a YAML document plus the 1-based line of every key and list item.

    ``source`` is the file as the caller named it, for messages.
    """

    data: Any
    source: str = "<text>"
    lines: dict[KeyPath, int] = field(default_factory=dict)
    issues: list[tuple[KeyPath, int, str]] = field(default_factory=list)
    unreadable: set[KeyPath] = field(default_factory=set)
    nodes_built: int = 0

    def line(self, path: KeyPath) -> int:
        """The line of ``path``, or of its nearest ancestor that has one (1 for the root)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def load_yaml(path: Path, what: str = "file") -> YamlDoc:
    """Parse ``path`` into a :class:`YamlDoc`; ``what`` ("config", "mapping") names it in problems.

    Raises:
        FileNotFoundError: there is no such file (each caller says where it looked).
        ConfigError: the file is not one a config or mapping can be (unreadable, not a regular
            file, too large, not UTF-8; :func:`sync.common.textfile.read_text`): one problem
            ``file:line: (file): message``.
        YamlSyntaxError: not YAML, or several documents.

    Duplicate keys, merge keys and non-scalar keys do not stop the load: they land in
    ``YamlDoc.issues`` (the first value is kept) so they are reported with everything else.
    """
    return parse_yaml(read_text(path, what), str(path))


def parse_yaml(text: str, source: str = "<text>") -> YamlDoc:
    """Parse YAML text into a :class:`YamlDoc`; ``source`` names it in errors (see
    :func:`load_yaml`)."""
    try:
        loader = PositionLoader(text)  # checks every character of the text at once
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise YamlSyntaxError(
            source,
            line,
            f"not valid YAML: the character #x{exc.character:04x} is not allowed "
            "(a control character)",
        ) from None
    try:
        _check_nesting(text, source)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(source, line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(source, 1, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    doc = YamlDoc(data=None, source=source)
    if node is not None:
        doc.lines[()] = node.start_mark.line + 1
        doc.data = _build(loader, node, (), doc)
    return doc


def _check_nesting(text: str, source: str) -> None:
    """Refuse a document nested deeper than MAX_DEPTH before it is composed.

    PyYAML composes nodes by recursion, so ``[[[[…`` ten thousand deep is a RecursionError there;
    its event stream is flat, so counting depth over the events costs one more parse and no stack.
    """
    depth = 0
    for event in yaml.parse(text, Loader=PositionLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlSyntaxError(
                    source,
                    event.start_mark.line + 1,
                    f"the document nests more than {MAX_DEPTH} levels deep",
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _build(loader: PositionLoader, node: yaml.Node, path: KeyPath, doc: YamlDoc) -> Any:
    doc.nodes_built += 1
    if doc.nodes_built > MAX_NODES or len(path) > MAX_DEPTH:
        raise YamlSyntaxError(
            doc.source,
            node.start_mark.line + 1,
            "the document is too large or nested too deeply (self-referencing anchors?)",
        )
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        doc.issues.append((path, node.start_mark.line + 1, f"the tag {node.tag} is not allowed"))
        doc.unreadable.add(path)
        return None
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(loader, node, path, doc)
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            doc.lines[(*path, index)] = item.start_mark.line + 1
            items.append(_build(loader, item, (*path, index), doc))
        return items
    value, problem = _scalar(loader, node)
    if problem:
        doc.issues.append((path, node.start_mark.line + 1, f"bad value: {problem}"))
        doc.unreadable.add(path)
    return value


# What a SafeConstructor raises for a scalar its tag cannot read: `!!float x` (ValueError), an
# empty `!!timestamp` (AttributeError), `!!bool maybe` (KeyError), an empty `!!int` (IndexError), a
# 5,000-digit int (ValueError), `!!binary` junk (ConstructorError).
_UNREADABLE_SCALAR = (
    yaml.YAMLError,
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    OverflowError,
)


def _scalar(loader: PositionLoader, node: yaml.Node) -> tuple[Any, str | None]:
    """(the Python value of a scalar node, None), or (None, why its tag cannot read it)."""
    try:
        return loader.construct_object(node, deep=True), None
    except _UNREADABLE_SCALAR as exc:
        problem = getattr(exc, "problem", None) if isinstance(exc, yaml.YAMLError) else None
        text = str(node.value)
        shown = text if len(text) <= 40 else text[:40] + "..."
        return None, problem or f"{shown!r} is not a valid {str(node.tag).rsplit(':', 1)[-1]}"


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _build_mapping(
    loader: PositionLoader, node: yaml.MappingNode, path: KeyPath, doc: YamlDoc
) -> dict:
    out: dict[Any, Any] = {}
    first_seen: dict[Any, int] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = _plain_key(loader, key_node, path, doc)
        if key is None:
            continue
        child = (*path, str(key))
        if key in first_seen:
            doc.issues.append((child, line, f"duplicate key (first at line {first_seen[key]})"))
            continue
        first_seen[key] = line
        doc.lines[child] = line
        out[key] = _build(loader, value_node, child, doc)
    return out


def _plain_key(loader: PositionLoader, key_node: yaml.Node, path: KeyPath, doc: YamlDoc) -> Any:
    """The key as a Python scalar, or None (recorded as an issue) when it cannot be one."""
    line = key_node.start_mark.line + 1
    if key_node.tag == "tag:yaml.org,2002:merge":
        doc.issues.append((path, line, "merge keys (<<) are not supported; write the keys out"))
        return None
    if not isinstance(key_node, yaml.ScalarNode):
        doc.issues.append((path, line, "a key must be a plain value, not a list or mapping"))
        return None
    key, problem = _scalar(loader, key_node)
    if problem or key is None:
        doc.issues.append((path, line, f"bad key: {problem}" if problem else "an empty (null) key"))
    return key
