"""Recursive-descent parser of a WHERE condition: a mapping's ``criteria``, a query's WHERE.

The token cursor and the condition grammar; :mod:`sync.extract.soql.parser` builds the whole
SELECT on them and adds the subqueries a condition alone never holds.
"""

from __future__ import annotations

from sync.extract.soql.lexer import _Token, _tokenize, string_value
from sync.extract.soql.nodes import (
    And,
    Comparison,
    Condition,
    InList,
    Not,
    Or,
    Query,
    SemiJoin,
    SoqlSyntaxError,
    Value,
)

# Parentheses and NOTs nest by recursion here and in render and evaluate; a criteria string nested
# deeper than a person writes must be a syntax error, not a RecursionError traceback.
MAX_NESTING = 100


class ConditionParser:
    """The tokens of ``text`` and a cursor over them, read as a condition."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, expected: str, tok: _Token | None = None) -> SoqlSyntaxError:
        tok = tok or self.tok
        found = "end of input" if tok.kind == "eof" else f"'{tok.text}'"
        return SoqlSyntaxError(f"expected {expected}, found {found}", tok.pos)

    def accept_word(self, *words: str) -> str | None:
        if self.tok.word() in words:
            return self.advance().word()
        return None

    def expect_word(self, word: str) -> None:
        if not self.accept_word(word):
            raise self.fail(word)

    def expect_punct(self, ch: str) -> None:
        if self.tok.kind != "punct" or self.tok.text != ch:
            raise self.fail(f"'{ch}'")
        self.advance()

    def expect_end(self) -> None:
        if self.tok.kind != "eof":
            raise SoqlSyntaxError(f"unexpected token '{self.tok.text}'", self.tok.pos)

    def field_path(self) -> str:
        tok = self.tok
        if tok.kind != "ident" or tok.word() in RESERVED:
            if tok.kind == "punct" and tok.text == "(" and self._peek_word(1) == "SELECT":
                raise SoqlSyntaxError("subqueries are not supported", tok.pos)
            raise self.fail("a field name")
        self.advance()
        return tok.text

    def _subquery_here(self) -> bool:
        return self.tok.kind == "punct" and self.tok.text == "(" and self._peek_word(1) == "SELECT"

    def _peek_word(self, ahead: int) -> str | None:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)].word()

    def subquery(self) -> Query:
        """A condition on its own holds no subquery; the query grammar allows one level deep."""
        raise SoqlSyntaxError("subqueries are not supported", self.tokens[self.i + 1].pos)

    # condition := term ((AND term)* | (OR term)*)
    def condition(self) -> Condition:
        first = self.unary()
        joiner = self.tok.word() if self.tok.word() in ("AND", "OR") else None
        if joiner is None:
            return first
        items = [first]
        while self.tok.word() in ("AND", "OR"):
            if self.tok.word() != joiner:
                raise SoqlSyntaxError(
                    f"cannot mix AND and OR without parentheses: found {self.tok.word()}",
                    self.tok.pos,
                )
            self.advance()
            items.append(self.unary())
        return And(tuple(items)) if joiner == "AND" else Or(tuple(items))

    def unary(self) -> Condition:
        if self.depth >= MAX_NESTING:
            raise SoqlSyntaxError(
                f"parentheses and NOT nest more than {MAX_NESTING} deep", self.tok.pos
            )
        self.depth += 1
        try:
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> Condition:
        if self.tok.word() == "NOT" and self.tokens[self.i + 1].kind != "op":
            self.advance()
            return Not(self.unary())
        if self.tok.kind == "punct" and self.tok.text == "(":
            if self._peek_word(1) == "SELECT":
                raise SoqlSyntaxError("subqueries are not supported", self.tok.pos)
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.predicate()

    def predicate(self) -> Condition:
        name = self.field_path()
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return Comparison(name, op, self.value())
        word = tok.word()
        if word == "LIKE":
            self.advance()
            if self.tok.kind != "string":
                raise SoqlSyntaxError("LIKE needs a quoted string pattern", self.tok.pos)
            return Comparison(name, "LIKE", string_value(self.text, self.advance(), like=True))
        if word == "IN" or (word == "NOT" and self._peek_word(1) == "IN"):
            self.advance()
            negated = word == "NOT"
            if negated:
                self.advance()
            if self._subquery_here():
                inner = self.subquery()
                if inner.children or len(inner.fields) != 1 or inner.count:
                    raise SoqlSyntaxError("a semi-join selects exactly one Id field", tok.pos)
                return SemiJoin(name, inner, negated)
            return InList(name, self.value_list(), negated)
        if word in ("INCLUDES", "EXCLUDES"):
            raise SoqlSyntaxError(f"{word} is not supported", tok.pos)
        raise self.fail("a comparison operator (= != < <= > >= LIKE IN NOT IN)")

    def value_list(self) -> tuple[Value, ...]:
        self.expect_punct("(")
        if self.tok.word() == "SELECT":
            raise SoqlSyntaxError("subqueries are not supported", self.tok.pos)
        values = [self.value()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.advance()
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def value(self) -> Value:
        tok = self.tok
        if tok.kind == "string":
            return string_value(self.text, self.advance())
        if tok.kind in ("number", "date", "datetime"):
            self.advance()
            return tok.value
        word = tok.word()
        if word in _WORD_VALUES:
            self.advance()
            return _WORD_VALUES[word]
        raise self.fail("a value (quoted string, number, date, datetime, true, false or null)")


_WORD_VALUES: dict[str, Value] = {"NULL": None, "TRUE": True, "FALSE": False}
#: words no field or object may be named (the query grammar reads them too)
RESERVED = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "NULL",
    "TRUE",
    "FALSE",
    "ORDER",
    "BY",
    "LIMIT",
    "OFFSET",
    "ASC",
    "DESC",
    "NULLS",
    "GROUP",
    "HAVING",
    "INCLUDES",
    "EXCLUDES",
}


def parse_condition(text: str) -> Condition:
    """Parse a WHERE condition on its own (the mapping's ``criteria``).

    Raises:
        SoqlSyntaxError: the text is not a single valid condition.
    """
    parser = ConditionParser(text)
    if parser.tok.kind == "eof":
        raise SoqlSyntaxError("the condition is empty", 0)
    cond = parser.condition()
    if parser.tok.kind == "punct" and parser.tok.text == ")":
        raise SoqlSyntaxError("unbalanced parenthesis ')'", parser.tok.pos)
    parser.expect_end()
    return cond
