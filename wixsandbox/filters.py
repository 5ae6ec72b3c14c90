"""The subset of Wix's API Query Language the sandbox understands.

A filter is compiled once into a predicate over an entity's JSON dict; unknown fields and
operators a field does not support are 400 validation errors, as on Wix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .clock import normalize_date
from .errors import invalid

Predicate = Callable[[dict], bool]

EQUALITY = frozenset({"$eq", "$ne", "$in", "$exists"})
TEXT = EQUALITY | {"$startsWith"}
DATES = frozenset({"$eq", "$ne", "$gt", "$lt", "$gte", "$lte"})
LABEL_SETS = frozenset({"$hasSome", "$hasAll"})


@dataclass(frozen=True)
class Field:
    get: Callable[[dict], object]
    ops: frozenset[str]
    kind: str = "str"  # "str", "date" (single value) or "strs" (several values)
    sortable: bool = False


def path_getter(path: str) -> Callable[[dict], object]:
    parts = path.split(".")

    def get(entity: dict) -> object:
        value: object = entity
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return get


def items_getter(path: str, attribute: str | None = None) -> Callable[[dict], list]:
    outer = path_getter(path)

    def get(entity: dict) -> list:
        wrapper = outer(entity)
        items = wrapper.get("items") if isinstance(wrapper, dict) else None
        if not items:
            return []
        if attribute is None:
            return items
        return [item.get(attribute) for item in items if item.get(attribute) is not None]

    return get


def compile_filter(node: object, fields: dict[str, Field], where: str = "filter") -> Predicate:
    if node is None:
        return _always
    if not isinstance(node, dict):
        raise invalid(where, "must be an object", "FORMAT")
    predicates = [_compile_entry(key, value, fields, where) for key, value in node.items()]
    return _all_of(predicates)


def _compile_entry(key: str, value: object, fields: dict[str, Field], where: str) -> Predicate:
    if key in ("$and", "$or"):
        if not isinstance(value, list) or not value:
            raise invalid(f"{where}.{key}", "must be a non-empty list of filters", "FORMAT")
        parts = [compile_filter(item, fields, f"{where}.{key}") for item in value]
        return _all_of(parts) if key == "$and" else _any_of(parts)
    if key == "$not":
        inner = compile_filter(value, fields, f"{where}.$not")
        return lambda entity: not inner(entity)
    if key.startswith("$"):
        raise invalid(where, f"unknown operator {key}", "OTHER")
    field = fields.get(key)
    if field is None:
        raise invalid(f"{where}.{key}", "field is not filterable", "OTHER")
    if isinstance(value, dict) and value and all(op.startswith("$") for op in value):
        conditions = value
    elif isinstance(value, dict):
        raise invalid(f"{where}.{key}", "expected an operator object such as {$eq: ...}", "FORMAT")
    else:
        conditions = {"$eq": value}
    return _all_of(
        [_compile_op(key, field, op, operand, where) for op, operand in conditions.items()]
    )


def _compile_op(name: str, field: Field, op: str, operand: object, where: str) -> Predicate:
    here = f"{where}.{name}.{op}"
    if op == "$begins":
        op = "$startsWith"
    if op not in field.ops:
        raise invalid(here, f"operator {op} is not supported on {name}", "OTHER")
    get = field.get
    if op == "$exists":
        if not isinstance(operand, bool):
            raise invalid(here, "must be true or false", "FORMAT")
        return lambda entity: (get(entity) not in (None, "", [])) is operand
    if op in ("$in", "$hasSome", "$hasAll"):
        if not isinstance(operand, list):
            raise invalid(here, "must be a list", "FORMAT")
        wanted = frozenset(_operand(field, item, here) for item in operand)
    else:
        wanted = _operand(field, operand, here)

    if field.kind == "strs":
        if op == "$eq":
            return lambda entity: wanted in get(entity)
        if op == "$ne":
            return lambda entity: wanted not in get(entity)
        if op in ("$in", "$hasSome"):
            return lambda entity: not wanted.isdisjoint(get(entity))
        if op == "$hasAll":
            return lambda entity: wanted.issubset(get(entity))
        if op == "$startsWith":  # not case-sensitive in Wix's query language
            prefix = str(wanted).casefold()
            return lambda entity: any(value.casefold().startswith(prefix) for value in get(entity))
    else:
        if op == "$eq":
            return lambda entity: get(entity) == wanted
        if op == "$ne":
            return lambda entity: get(entity) != wanted
        if op == "$in":
            return lambda entity: get(entity) in wanted
        if op == "$startsWith":  # not case-sensitive in Wix's query language
            prefix = str(wanted).casefold()
            return lambda entity: (
                (value := get(entity)) is not None and str(value).casefold().startswith(prefix)
            )
        compare = _COMPARISONS.get(op)
        if compare is not None:
            return lambda entity: (value := get(entity)) is not None and compare(value, wanted)
    raise invalid(here, f"operator {op} is not supported on {name}", "OTHER")


def _operand(field: Field, operand: object, where: str) -> object:
    if field.kind == "date":
        return normalize_date(operand, where)
    if not isinstance(operand, str):
        raise invalid(where, "must be a string", "FORMAT")
    return operand


_COMPARISONS = {
    "$gt": lambda value, wanted: value > wanted,
    "$gte": lambda value, wanted: value >= wanted,
    "$lt": lambda value, wanted: value < wanted,
    "$lte": lambda value, wanted: value <= wanted,
}


def _always(entity: dict) -> bool:
    return True


def _all_of(predicates: list[Predicate]) -> Predicate:
    if not predicates:
        return _always
    if len(predicates) == 1:
        return predicates[0]
    return lambda entity: all(predicate(entity) for predicate in predicates)


def _any_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    return lambda entity: any(predicate(entity) for predicate in predicates)


def parse_sort(sort: object, fields: dict[str, Field], where: str, max_items: int | None) -> list:
    """Wix sort: a list of {fieldName, order}; returns [(field name, descending)]."""
    if sort is None:
        return []
    if isinstance(sort, dict):
        sort = [sort]
    if not isinstance(sort, list):
        raise invalid(where, "must be a list of {fieldName, order}", "FORMAT")
    if max_items is not None and len(sort) > max_items:
        raise invalid(where, f"at most {max_items} sort object(s) allowed", "MAX_SIZE")
    parsed = []
    for item in sort:
        if not isinstance(item, dict) or not isinstance(item.get("fieldName"), str):
            raise invalid(f"{where}.fieldName", "is required", "REQUIRED_FIELD")
        name = item["fieldName"]
        field = fields.get(name)
        if field is None or not field.sortable:
            raise invalid(f"{where}.fieldName", f"{name} is not sortable", "OTHER")
        order = item.get("order", "ASC")
        if order not in ("ASC", "DESC"):
            raise invalid(f"{where}.order", "must be ASC or DESC", "OTHER")
        parsed.append((name, order == "DESC"))
    return parsed


def parse_paging(paging: object, where: str, default: int, maximum: int) -> tuple[int, int]:
    if paging is None:
        paging = {}
    if not isinstance(paging, dict):
        raise invalid(where, "must be an object", "FORMAT")
    if "cursor" in paging:
        raise invalid(f"{where}.cursor", "cursor paging is not supported; use offset", "OTHER")
    limit = _int(paging.get("limit", default), f"{where}.limit")
    offset = _int(paging.get("offset", 0), f"{where}.offset")
    if limit < 0:
        raise invalid(f"{where}.limit", "must be at least 0", "MIN", {"min": 0})
    if limit > maximum:
        raise invalid(f"{where}.limit", f"must be at most {maximum}", "MAX", {"max": maximum})
    if offset < 0:
        raise invalid(f"{where}.offset", "must be at least 0", "MIN", {"min": 0})
    return limit, offset


def _int(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise invalid(where, "must be an integer", "FORMAT")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise invalid(where, "must be an integer", "FORMAT")
