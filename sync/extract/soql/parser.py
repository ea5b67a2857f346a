"""Recursive-descent parser of a whole SELECT: field list, subqueries, ORDER BY, LIMIT, OFFSET.

Its WHERE is read by the condition grammar it extends (:mod:`sync.extract.soql.conditions`).
"""

from __future__ import annotations

from sync.extract.soql.conditions import RESERVED, ConditionParser
from sync.extract.soql.nodes import (
    And,
    Condition,
    Not,
    Or,
    OrderItem,
    Query,
    SemiJoin,
    SoqlSyntaxError,
)


class _Parser(ConditionParser):
    def __init__(self, text: str):
        super().__init__(text)
        self.subqueries = True  # a whole query's text: subqueries allowed one level deep

    def subquery(self) -> Query:
        """``( SELECT … )`` one level deep; the inner query may not hold subqueries itself."""
        if not self.subqueries:
            return super().subquery()
        self.advance()
        self.subqueries = False
        try:
            inner = self.query(nested=True)
        finally:
            self.subqueries = True
        self.expect_punct(")")
        return inner

    def query(self, nested: bool = False) -> Query:
        self.expect_word("SELECT")
        count, fields, children = self.select_list()
        self.expect_word("FROM")
        sobject = self.tok
        if sobject.kind != "ident" or "." in sobject.text or sobject.word() in RESERVED:
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


def parse_query(text: str) -> Query:
    """Parse a full SELECT statement.

    Raises:
        SoqlSyntaxError: the text is not in the supported subset; the message says what and where.
    """
    parser = _Parser(text)
    if parser.tok.kind == "eof":
        raise SoqlSyntaxError("SOQL statements cannot be empty or null", 0)
    return parser.query()
