"""Execute SOQL against the store: translate the parsed query to one SQL statement.

The WHERE clause becomes SQL with SOQL's semantics kept: text columns compare with NOCASE,
``!=`` and ``NOT IN`` also match null, ``NOT`` is two-valued (``NOT IFNULL(x, 0)``), parent paths
become LEFT JOINs so ``Account.Name = null`` matches a deal without an account, and literals
are type-checked against the field like an org does (INVALID_FIELD otherwise).

A query runs once: the result rows are the cursor's snapshot, pages are cut from it. Records
are built per page, so a 100,000-row cursor costs one SQL scan plus JSON for what is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sync.emulator import ids
from sync.emulator.apierror import ApiError
from sync.emulator.schema import ID_TYPES, NUMBER_TYPES, TEXT_TYPES, FieldDef, ObjectDef, Schema
from sync.emulator.store import HIDDEN, Store, qi
from sync.emulator.values import format_datetime
from sync.extract import soql

MAX_OFFSET = 2000
_CUSTOM_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
    "field name. Please reference your WSDL or the describe call for the appropriate names."
)


def located(text: str, position: int, message: str) -> str:
    """Salesforce's query error layout.

    The line, a caret under the column, ``ERROR at Row:r:Column:c``, then the message.
    """
    position = max(0, min(position, len(text)))
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    line_end = len(text) if line_end == -1 else line_end
    column = position - line_start + 1
    row = text.count("\n", 0, position) + 1
    caret = f"{' ' * (column - 1)}^"
    return f"\n{text[line_start:line_end]}\n{caret}\nERROR at Row:{row}:Column:{column}\n{message}"


@dataclass
class _Entry:
    name: str  # canonical field name
    column: int  # index in the SQL row
    boolean: bool  # stored 0/1, sent as true/false
    chain: tuple[tuple[str, str, int], ...]  # (relationship name, object name, parent Id column)
    type: str = "string"  # describe's type name (Bulk CSV renders by it)


@dataclass
class RowPlan:
    """How to turn one SQL row into a REST record (attributes, parents, values in SELECT order)."""

    sobject: str
    entries: list[_Entry] = field(default_factory=list)

    def build(self, row: tuple, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/"
        record: dict[str, Any] = {
            "attributes": {"type": self.sobject, "url": base + self.sobject + "/" + row[0]}
        }
        for entry in self.entries:
            target = record
            for rel, obj_name, id_column in entry.chain:
                if rel not in target:
                    parent_id = row[id_column]
                    target[rel] = (
                        None
                        if parent_id is None
                        else {
                            "attributes": {
                                "type": obj_name,
                                "url": base + obj_name + "/" + parent_id,
                            }
                        }
                    )
                target = target[rel]
                if target is None:
                    break
            else:
                value = row[entry.column]
                target[entry.name] = bool(value) if entry.boolean and value is not None else value
        return record


@dataclass
class Children:
    """One parent-to-child subquery's rows for a whole result, grouped by parent Id."""

    relationship: str  # as the org names it in the record: "OpportunityLineItems"
    plan: RowPlan
    by_parent: dict[str, list[tuple]]


@dataclass
class Result:
    count_only: bool
    total: int
    rows: list[tuple]
    plan: RowPlan | None
    children: list[Children] = field(default_factory=list)


class _Compiler:
    """Builds the SQL for one query; resolves paths to columns and adds the joins they need."""

    def __init__(self, schema: Schema, root: ObjectDef, text: str):
        self.schema = schema
        self.root = root
        self.text = text
        self.joins: list[str] = []
        self.aliases: dict[str, tuple[str, ObjectDef]] = {"": ("t0", root)}
        self.params: list[Any] = []

    def fail(self, code: str, path: str, message: str) -> ApiError:
        match = re.search(r"(?<![\w.])" + re.escape(path) + r"(?![\w])", self.text, re.IGNORECASE)
        return ApiError(400, code, located(self.text, match.start() if match else 0, message))

    def relation(
        self, parts: list[str], path: str
    ) -> tuple[str, ObjectDef, list[tuple[str, str, str]]]:
        """The alias and object at the end of a relationship chain; joins added on first use."""
        key = ""
        alias, obj = self.aliases[""]
        chain = []
        for part in parts:
            reference = obj.relationship(part)
            if reference is None:
                raise self.fail(
                    "INVALID_FIELD",
                    path,
                    f"Didn't understand relationship '{part}' in field path. If you are attempting "
                    "to use a custom relationship, be sure to append the '__r' after the custom "
                    "relationship name. Please reference your WSDL or the describe call for the "
                    "appropriate names.",
                )
            key = f"{key}.{reference.relationship_name.lower()}"
            if key not in self.aliases:
                target = self.schema.object(reference.reference_to[0])
                new_alias = f"t{len(self.aliases)}"
                self.joins.append(
                    f"LEFT JOIN {qi(target.name)} {new_alias} "
                    f"ON {new_alias}.Id = {alias}.{qi(reference.name)}"
                )
                self.aliases[key] = (new_alias, target)
            chain.append(
                (reference.relationship_name, self.aliases[key][1].name, self.aliases[key][0])
            )
            alias, obj = self.aliases[key]
        return alias, obj, chain

    def column(self, path: str) -> tuple[str, FieldDef, list[tuple[str, str, str]]]:
        parts = path.split(".")
        alias, obj, chain = self.relation(parts[:-1], path)
        definition = obj.field(parts[-1])
        if definition is None:
            raise self.fail(
                "INVALID_FIELD",
                path,
                f"No such column '{parts[-1]}' on entity '{obj.name}'. {_CUSTOM_HINT}",
            )
        return f"{alias}.{qi(definition.name)}", definition, chain

    # ------------------------------------------------------------------------- WHERE

    def condition(self, node: soql.Condition) -> str:
        if isinstance(node, soql.And | soql.Or):
            joiner = " AND " if isinstance(node, soql.And) else " OR "
            return "(" + joiner.join(self.condition(item) for item in node.items) + ")"
        if isinstance(node, soql.Not):
            return f"(NOT IFNULL({self.condition(node.item)}, 0))"
        if isinstance(node, soql.InList):
            return self.in_list(node)
        if isinstance(node, soql.SemiJoin):
            return self.semi_join(node)
        return self.comparison(node)

    def semi_join(self, node: soql.SemiJoin) -> str:
        """``Id IN (SELECT OpportunityId FROM OpportunityLineItem WHERE …)`` as one SQL subquery
        (its own aliases shadow the outer ones); both sides must be Ids."""
        expr, definition, _ = self.column(node.field)
        inner_obj = self.schema.object(node.query.sobject)
        if inner_obj is None:
            raise self.fail(
                "INVALID_TYPE",
                node.query.sobject,
                f"sObject type '{node.query.sobject}' is not supported.",
            )
        inner = _Compiler(self.schema, inner_obj, self.text)
        inner_expr, inner_def, _ = inner.column(node.query.fields[0])
        if definition.type not in ID_TYPES or inner_def.type not in ID_TYPES:
            raise self.fail(
                "MALFORMED_QUERY", node.field, "semi join sub-selects can only select Id fields"
            )
        where = [f"t0.{HIDDEN} = 0", "t0.IsDeleted = 0", f"{inner_expr} IS NOT NULL"]
        if node.query.where is not None:
            where.append(inner.condition(node.query.where))
        self.params.extend(inner.params)
        sql = (
            f"SELECT {inner_expr} FROM {qi(inner_obj.name)} t0 {' '.join(inner.joins)} "
            f"WHERE {' AND '.join(where)}"
        )
        return f"({expr} {'NOT ' if node.negated else ''}IN ({sql}))"

    def comparison(self, node: soql.Comparison) -> str:
        expr, definition, _ = self.column(node.field)
        if node.op == "LIKE":
            if definition.type not in TEXT_TYPES:
                raise self.fail(
                    "INVALID_FIELD",
                    node.field,
                    f"invalid operator on field '{definition.name}': LIKE needs a text field",
                )
            self.params.append(node.value)  # the parser's LIKE grammar is SQLite's
            return f"({expr} LIKE ? ESCAPE '\\')"
        if definition.type == "boolean" and node.op not in ("=", "!="):
            raise self.fail(
                "INVALID_QUERY_FILTER_OPERATOR", node.field, "invalid operator on boolean field"
            )
        if node.value is None:
            if node.op not in ("=", "!="):
                return "(0)"
            return f"({expr} IS {'NOT ' if node.op == '!=' else ''}NULL)"
        self.params.append(self.literal(definition, node.value, node.field))
        if node.op == "!=":
            return f"({expr} != ? OR {expr} IS NULL)"
        return f"({expr} {node.op} ?)"

    def in_list(self, node: soql.InList) -> str:
        expr, definition, _ = self.column(node.field)
        values = [self.literal(definition, v, node.field) for v in node.values if v is not None]
        has_null = any(v is None for v in node.values)
        self.params.extend(values)
        marks = ", ".join("?" for _ in values)
        if node.negated:
            base = f"({expr} NOT IN ({marks}) OR {expr} IS NULL)" if values else "(1)"
            return f"({base} AND {expr} IS NOT NULL)" if has_null else base
        base = f"({expr} IN ({marks}))" if values else "(0)"
        return f"({base} OR {expr} IS NULL)" if has_null else base

    def literal(self, definition: FieldDef, value: soql.Value, path: str) -> Any:
        kind = definition.type
        expected = {"boolean": bool, "date": date, "datetime": datetime}.get(kind)
        if kind in TEXT_TYPES or kind in ID_TYPES:
            if isinstance(value, str):
                if kind in ID_TYPES:
                    normal = ids.normalize(value)
                    if normal is None:
                        raise self.fail(
                            "INVALID_QUERY_FILTER_OPERATOR", path, f"invalid ID field: {value}"
                        )
                    return normal
                return value
            raise self._type_error(path, definition, "string", quoted=True)
        if kind in NUMBER_TYPES:
            if isinstance(value, int | Decimal) and not isinstance(value, bool):
                return float(value)
            raise self._type_error(path, definition, "double")
        if kind == "datetime" and isinstance(value, datetime):
            return format_datetime(value)
        if kind == "date" and isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        if kind == "boolean" and isinstance(value, bool):
            return int(value)
        raise self._type_error(
            path, definition, {bool: "boolean", date: "date", datetime: "dateTime"}[expected]
        )

    def _type_error(
        self, path: str, definition: FieldDef, kind: str, quoted: bool = False
    ) -> ApiError:
        quote_rule = (
            "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        )
        return self.fail(
            "INVALID_FIELD",
            path,
            f"value of filter criterion for field '{definition.name}' must be of type {kind} "
            f"and {quote_rule}",
        )


class QueryEngine:
    def __init__(self, schema: Schema, store: Store):
        self.schema = schema
        self.store = store

    def parse(self, text: str | None) -> soql.Query:
        if not text or not text.strip():
            raise ApiError(400, "MALFORMED_QUERY", "SOQL statements cannot be empty or null")
        try:
            return soql.parse_query(text)
        except soql.SoqlSyntaxError as exc:
            raise ApiError(
                400, "MALFORMED_QUERY", located(text, exc.position, exc.message)
            ) from None

    def execute(self, text: str | None, include_deleted: bool) -> Result:
        """Run a query once and return every matching row (the cursor's snapshot)."""
        query = self.parse(text)
        root = self.schema.object(query.sobject)
        if root is None:
            raise ApiError(
                400,
                "INVALID_TYPE",
                located(
                    text,
                    text.lower().find(query.sobject.lower()),
                    f"sObject type '{query.sobject}' is not supported. "
                    "If you are attempting to use a custom object, "
                    "be sure to append the '__c' after the entity name. "
                    "Please reference your WSDL or the describe call for the appropriate names.",
                ),
            )
        if query.offset is not None and query.offset > MAX_OFFSET:
            raise ApiError(
                400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
            )
        compiler = _Compiler(self.schema, root, text)
        select, plan = self._select_list(compiler, query, root)
        where = [f"t0.{HIDDEN} = 0"] + ([] if include_deleted else ["t0.IsDeleted = 0"])
        if query.where is not None:
            where.append(compiler.condition(query.where))
        order = self._order(compiler, query)
        tail = ""
        if query.limit is not None or query.offset is not None:
            limit = query.limit if query.limit is not None else -1
            tail = f" LIMIT {limit} OFFSET {query.offset or 0}"
        from_sql = f"FROM {qi(root.name)} t0 {' '.join(compiler.joins)} WHERE {' AND '.join(where)}"
        with self.store.lock:
            if query.count:
                sql = f"SELECT COUNT(*) FROM (SELECT 1 {from_sql}{tail})"
                (total,) = self.store.db.execute(sql, compiler.params).fetchone()
                return Result(True, total, [], None)
            rows = self.store.db.execute(
                f"SELECT {select} {from_sql} ORDER BY {order}{tail}", compiler.params
            ).fetchall()
        children = [
            self._children(text, root, child, [row[0] for row in rows], include_deleted)
            for child in query.children
        ]
        return Result(False, len(rows), rows, plan, children)

    def _children(
        self,
        text: str,
        root: ObjectDef,
        query: soql.Query,
        parent_ids: list[str],
        include_deleted: bool,
    ) -> Children:
        """The rows of one ``(SELECT … FROM <relationship>)`` for every parent, read once like the
        parents (the cursor's snapshot), ``LIMIT`` applied per parent."""
        relation = root.children.get(query.sobject.lower())
        if relation is None:
            raise ApiError(
                400,
                "INVALID_TYPE",
                located(
                    text,
                    text.lower().find(query.sobject.lower()),
                    f"Didn't understand relationship '{query.sobject}' in FROM part of query call. "
                    "If you are attempting to use a custom relationship, "
                    "be sure to append the '__r' after the custom relationship name. "
                    "Please reference your WSDL or the describe call for the appropriate names.",
                ),
            )
        name, child_name, parent_field = relation
        child = self.schema.object(child_name)
        compiler = _Compiler(self.schema, child, text)
        select, plan = self._select_list(compiler, query, child)
        where = [f"t0.{HIDDEN} = 0"] + ([] if include_deleted else ["t0.IsDeleted = 0"])
        if query.where is not None:
            where.append(compiler.condition(query.where))
        order = self._order(compiler, query)
        parent = f"t0.{qi(parent_field)}"
        by_parent: dict[str, list[tuple]] = {}
        for start in range(0, len(parent_ids), 500):
            chunk = parent_ids[start : start + 500]
            sql = (
                f"SELECT {select}, {parent} FROM {qi(child.name)} t0 {' '.join(compiler.joins)} "
                f"WHERE {' AND '.join(where)} AND {parent} IN ({', '.join('?' for _ in chunk)}) "
                f"ORDER BY {parent}, {order}"
            )
            with self.store.lock:
                for row in self.store.db.execute(sql, [*compiler.params, *chunk]):
                    kept = by_parent.setdefault(row[-1], [])
                    if query.limit is None or len(kept) < query.limit:
                        kept.append(row[:-1])
        return Children(name, plan, by_parent)

    def _select_list(
        self, compiler: _Compiler, query: soql.Query, root: ObjectDef
    ) -> tuple[str, RowPlan]:
        columns = ["t0.Id"]
        index_of = {"t0.Id": 0}
        plan = RowPlan(root.name)
        seen = set()

        def add(expr: str) -> int:
            if expr not in index_of:
                index_of[expr] = len(columns)
                columns.append(expr)
            return index_of[expr]

        for path in query.fields:
            expr, definition, chain = compiler.column(path)
            if path.lower() in seen:
                raise compiler.fail("MALFORMED_QUERY", path, f"duplicate field selected: {path}")
            seen.add(path.lower())
            resolved_chain = tuple(
                (rel, obj_name, add(f"{alias}.Id")) for rel, obj_name, alias in chain
            )
            plan.entries.append(
                _Entry(
                    definition.name,
                    add(expr),
                    definition.type == "boolean",
                    resolved_chain,
                    definition.type,
                )
            )
        return ", ".join(columns), plan

    def _order(self, compiler: _Compiler, query: soql.Query) -> str:
        keys = []
        for item in query.order_by:
            expr, _, _ = compiler.column(item.field)
            direction = "DESC" if item.descending else "ASC"
            keys.append(f"{expr} {direction} NULLS {'LAST' if item.nulls_last else 'FIRST'}")
        keys.append("t0.rowid")  # a stable tiebreaker, so pages never overlap
        return ", ".join(keys)
