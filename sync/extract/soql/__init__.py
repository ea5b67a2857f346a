"""SOQL: one lexer, parser and AST shared by the pipeline (criteria, extract) and the emulator.

The subset is what psa-sync needs and no more: field lists with parent paths (``Account.Name``),
``COUNT()``, WHERE with AND/OR/NOT and parentheses, ``= != <> < <= > >= IN NOT IN LIKE``,
null/true/false, numbers, quoted strings with backslash escapes, date and datetime literals,
ORDER BY several fields, LIMIT and OFFSET. A whole query (:func:`parse_query`) may also carry
parent-to-child subqueries in its field list (``(SELECT … FROM OpportunityLineItems)``) and
semi-joins at the top level of its WHERE (``Id IN (SELECT OpportunityId FROM …)``), one level
deep, as Salesforce allows. Anything else (``;``, comments, subqueries in a criteria string, bind
variables, date functions) is refused with :class:`SoqlSyntaxError`, so a criteria string that
would surprise Salesforce surprises us first.

Like Salesforce, AND and OR may not be mixed at one level without parentheses.

Conditions are frozen dataclasses; build them with :func:`field`, :func:`and_`, :func:`or_`,
:func:`not_` and render them with :func:`to_soql`, which escapes every value via :func:`quote`,
so no user value is ever pasted into a query string::

    >>> cond = and_(field("SystemModstamp").ge(since), parse_condition("IsWon = true"))
    >>> to_soql(cond)
    'SystemModstamp >= 2024-05-01T00:00:00Z AND IsWon = true'

:func:`evaluate` applies a condition to a REST-shaped record with SOQL's semantics (text
compares ignoring case, comparisons with null are false, ``!=`` and ``NOT IN`` match null).
"""

from __future__ import annotations

from sync.extract.soql.conditions import parse_condition
from sync.extract.soql.lexer import parse_sf_datetime
from sync.extract.soql.nodes import (
    COMPARISON_OPS,
    And,
    Comparison,
    Condition,
    InList,
    Not,
    Or,
    OrderItem,
    Query,
    SemiJoin,
    SoqlEvaluationError,
    SoqlSyntaxError,
    Value,
    and_,
    not_,
    or_,
)
from sync.extract.soql.parser import parse_query
from sync.extract.soql.render import FieldRef, field, quote, to_soql
from sync.extract.soql.semantics import evaluate

__all__ = [
    "SoqlSyntaxError",
    "SoqlEvaluationError",
    "Value",
    "Condition",
    "Comparison",
    "InList",
    "And",
    "Or",
    "Not",
    "OrderItem",
    "Query",
    "SemiJoin",
    "parse_query",
    "parse_condition",
    "to_soql",
    "quote",
    "field",
    "FieldRef",
    "and_",
    "or_",
    "not_",
    "evaluate",
    "parse_sf_datetime",
    "COMPARISON_OPS",
]
