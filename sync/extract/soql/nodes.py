"""The SOQL AST: frozen dataclasses, the two error types, and the AND/OR/NOT constructors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

Value = str | int | Decimal | bool | None | date | datetime
COMPARISON_OPS = ("=", "!=", "<", "<=", ">", ">=", "LIKE")


class SoqlSyntaxError(ValueError):
    """A SOQL text is not in the supported grammar; ``position`` is the 0-based character offset."""

    def __init__(self, message: str, position: int):
        self.message = message
        self.position = position
        super().__init__(f"{message} (at character {position + 1})")


class SoqlEvaluationError(ValueError):
    """A condition cannot apply to a record: a field is missing or a value has the wrong type."""


# --------------------------------------------------------------------------------------- AST


class Condition:
    """Base of the condition nodes: ``&``, ``|`` and ``~`` compose them."""

    def fields(self) -> set[str]:  # pragma: no cover - every node overrides
        raise NotImplementedError

    def __and__(self, other: Condition) -> Condition:
        return and_(self, other)

    def __or__(self, other: Condition) -> Condition:
        return or_(self, other)

    def __invert__(self) -> Condition:
        return Not(self)


@dataclass(frozen=True)
class Comparison(Condition):
    """``field op value``; op is one of :data:`COMPARISON_OPS` (``<>`` is read as ``!=``).

    A LIKE value is the pattern in SOQL's LIKE grammar (``%`` ``_`` wildcards, ``\\%`` ``\\_``
    ``\\\\`` literals), so a literal percent and a wildcard stay apart; any other value is itself.
    """

    field: str
    op: str
    value: Value

    def fields(self) -> set[str]:
        return {self.field}


@dataclass(frozen=True)
class InList(Condition):
    """``field IN (values)`` or, when ``negated``, ``field NOT IN (values)``."""

    field: str
    values: tuple[Value, ...]
    negated: bool = False

    def fields(self) -> set[str]:
        return {self.field}


@dataclass(frozen=True)
class SemiJoin(Condition):
    """``field IN (SELECT id_field FROM Object WHERE …)`` (``NOT IN`` when ``negated``): only the
    org can evaluate it, so it appears in queries psa-sync sends, never in a mapping's criteria."""

    field: str
    query: Query
    negated: bool = False

    def fields(self) -> set[str]:
        return {self.field}


@dataclass(frozen=True)
class And(Condition):
    items: tuple[Condition, ...]

    def fields(self) -> set[str]:
        return set().union(*(item.fields() for item in self.items))


@dataclass(frozen=True)
class Or(Condition):
    items: tuple[Condition, ...]

    def fields(self) -> set[str]:
        return set().union(*(item.fields() for item in self.items))


@dataclass(frozen=True)
class Not(Condition):
    item: Condition

    def fields(self) -> set[str]:
        return self.item.fields()


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY key. SOQL sorts nulls first by default, whatever the direction."""

    field: str
    descending: bool = False
    nulls_last: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed SELECT; ``count`` is true for ``SELECT COUNT()`` (then ``fields`` is empty).

    ``children`` are parent-to-child subqueries of the field list (``(SELECT … FROM
    OpportunityLineItems)``): each is a Query whose ``sobject`` is the relationship name."""

    sobject: str
    fields: tuple[str, ...] = ()
    count: bool = False
    where: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None
    children: tuple[Query, ...] = ()


def and_(*items: Condition | None) -> Condition:
    """AND of the given conditions; ``None`` items are skipped, a single one is returned as is."""
    return _join(And, items)


def or_(*items: Condition | None) -> Condition:
    """OR of the given conditions; ``None`` items are skipped, a single one is returned as is."""
    return _join(Or, items)


def not_(item: Condition) -> Condition:
    return Not(item)


def _join(kind: type[And] | type[Or], items: tuple[Condition | None, ...]) -> Condition:
    kept = tuple(item for item in items if item is not None)
    if not kept:
        raise ValueError(f"{kind.__name__} needs at least one condition")
    for item in kept:
        if not isinstance(item, Condition):
            raise TypeError(f"not a SOQL condition: {item!r}")
    return kept[0] if len(kept) == 1 else kind(kept)
