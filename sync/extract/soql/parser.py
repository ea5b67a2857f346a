"""Recursive-descent parser for the supported SELECT and WHERE grammar."""

from __future__ import annotations

from sync.extract.soql.lexer import _Token, _tokenize, string_value
from sync.extract.soql.nodes import (
    And,
    Comparison,
    Condition,
    InList,
    Not,
    Or,
    OrderItem,
    Query,
    SemiJoin,
    SoqlSyntaxError,
    Value,
)

# Parentheses and NOTs nest by recursion here and in render and evaluate; a criteria string nested
# deeper than a person writes must be a syntax error, not a RecursionError traceback.
MAX_NESTING = 100


class _Parser:
    def __init__(self, text: str, subqueries: bool = False):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.subqueries = subqueries  # a whole query's text: subqueries allowed one level deep

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
        if tok.kind != "ident" or tok.word() in _RESERVED:
            if tok.kind == "punct" and tok.text == "(" and self._peek_word(1) == "SELECT":
                raise SoqlSyntaxError("subqueries are not supported", tok.pos)
            raise self.fail("a field name")
        self.advance()
        return tok.text

    def _subquery_here(self) -> bool:
        return self.tok.kind == "punct" and self.tok.text == "(" and self._peek_word(1) == "SELECT"

    def subquery(self) -> Query:
        """``( SELECT … )`` one level deep; the inner query may not hold subqueries itself."""
        if not self.subqueries:
            raise SoqlSyntaxError("subqueries are not supported", self.tokens[self.i + 1].pos)
        self.advance()
        self.subqueries = False
        try:
            inner = self.query(nested=True)
        finally:
            self.subqueries = True
        self.expect_punct(")")
        return inner

    def _peek_word(self, ahead: int) -> str | None:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)].word()

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

    def query(self, nested: bool = False) -> Query:
        self.expect_word("SELECT")
        count, fields, children = self.select_list()
        self.expect_word("FROM")
        sobject = self.tok
        if sobject.kind != "ident" or "." in sobject.text or sobject.word() in _RESERVED:
            raise self.fail("an object name")
        self.advance()
        where = self.condition() if self.accept_word("WHERE") else None
        order_by: tuple[OrderItem, ...] = ()
        if self.accept_word("ORDER"):
            self.expect_word("BY")
            order_by = self.order_list()
        limit = self.integer() if self.accept_word("LIMIT") else None
        offset = self.integer() if self.accept_word("OFFSET") else None
        if not nested:
            self.expect_end()
            _semi_joins_at_top(where)
        return Query(sobject.text, fields, count, where, order_by, limit, offset, children)

    def select_list(self) -> tuple[bool, tuple[str, ...], tuple[Query, ...]]:
        if self.tok.word() == "COUNT" and self.tokens[self.i + 1].text == "(":
            self.advance()
            self.advance()
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                raise SoqlSyntaxError("only COUNT() is supported, not COUNT(field)", self.tok.pos)
            self.advance()
            return True, (), ()
        fields: list[str] = []
        children: list[Query] = []
        while True:
            if self._subquery_here():
                children.append(self.subquery())
            else:
                fields.append(self.field_path())
            if not (self.tok.kind == "punct" and self.tok.text == ","):
                break
            self.advance()
        if self.tok.kind == "punct" and self.tok.text == "(":
            raise SoqlSyntaxError("functions in the field list are not supported", self.tok.pos)
        return False, tuple(fields), tuple(children)

    def order_list(self) -> tuple[OrderItem, ...]:
        items = [self.order_item()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.advance()
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderItem:
        name = self.field_path()
        descending = self.accept_word("ASC", "DESC") == "DESC"
        nulls_last = False
        if self.accept_word("NULLS"):
            which = self.accept_word("FIRST", "LAST")
            if which is None:
                raise self.fail("FIRST or LAST")
            nulls_last = which == "LAST"
        return OrderItem(name, descending, nulls_last)

    def integer(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.value < 0:
            raise self.fail("a non-negative integer")
        self.advance()
        return tok.value


def _semi_joins_at_top(where: Condition | None) -> None:
    """Salesforce takes a semi-join only as the WHERE itself or one of its top-level ANDs."""
    top = where.items if isinstance(where, And) else (where,)
    for item in top:
        if item is not None and not isinstance(item, SemiJoin) and _has_semi_join(item):
            raise SoqlSyntaxError(
                "Semi join sub-selects are only allowed at the top level WHERE "
                "expressions and not in nested WHERE expressions",
                0,
            )


def _has_semi_join(node: Condition) -> bool:
    if isinstance(node, SemiJoin):
        return True
    if isinstance(node, And | Or):
        return any(_has_semi_join(item) for item in node.items)
    return isinstance(node, Not) and _has_semi_join(node.item)


_WORD_VALUES: dict[str, Value] = {"NULL": None, "TRUE": True, "FALSE": False}
_RESERVED = {
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


def parse_query(text: str) -> Query:
    """Parse a full SELECT statement.

    Raises:
        SoqlSyntaxError: the text is not in the supported subset; the message says what and where.
    """
    parser = _Parser(text, subqueries=True)
    if parser.tok.kind == "eof":
        raise SoqlSyntaxError("SOQL statements cannot be empty or null", 0)
    return parser.query()


def parse_condition(text: str) -> Condition:
    """Parse a WHERE condition on its own (the mapping's ``criteria``).

    Raises:
        SoqlSyntaxError: the text is not a single valid condition.
    """
    parser = _Parser(text)
    if parser.tok.kind == "eof":
        raise SoqlSyntaxError("the condition is empty", 0)
    cond = parser.condition()
    if parser.tok.kind == "punct" and parser.tok.text == ")":
        raise SoqlSyntaxError("unbalanced parenthesis ')'", parser.tok.pos)
    parser.expect_end()
    return cond
