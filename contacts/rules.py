"""Nested audience rules: groups inside groups, as deep as a person needs.

A rule is a tree. A group matches contacts by its children: ALL of them, ANY of them, or NONE of
them. A condition is a label, a created date (a date range, or the last N days), having an email
or a phone, or being in a saved audience. The tree travels in the `rule` GET parameter and in a
saved audience's rules as a small versioned JSON document:

    {"v": 1, "any": [{"all": [{"label": "custom.vip"}, {"label": "custom.newsletter"}]},
                     {"all": [{"any": [{"label": "custom.lead"}, {"label": "custom.trial"}]},
                              {"none": [{"label": "custom.customer"}]}]}]}

It is ANDed with the flat ALL/ANY/NONE groups and the search of `contacts.segments`. The builder
may hold conditions not filled in yet (a label not chosen); those are left out when the rule is
read for contacts (`pruned`), so a half-built rule shows what it will match once finished.

Edits come from the builder as one change to one node, named by its path ("0.2" is the third
child of the first child of the top group): the page sends the tree it shows and the change, and
gets the new tree back. A path the tree does not have is a stale page: `RuleProblem`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date

VERSION = 1
OPS = ("all", "any", "none")
KINDS = ("label", "without", "days", "dates", "email", "phone", "audience")
KIND_NAMES = {
    "label": "has the label",
    "without": "does not have the label",
    "days": "was created in the last … days",
    "dates": "was created between",
    "email": "has an email address",
    "phone": "has a phone number",
    "audience": "is in the saved audience",
}
MAX_DEPTH = 5  # groups inside groups inside groups…: deeper than anyone reads
MAX_NODES = 60
MAX_TEXT = 6000  # characters of JSON in the URL
MAX_DAYS = 36_600
BOUNDS = ("from", "to")
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)
MAX_ID = 2**63 - 1  # a saved audience's id is a bigint


class RuleProblem(ValueError):
    """The rule cannot be read or the change cannot be made; the message says why, plainly."""


@dataclass(frozen=True)
class Condition:
    kind: str = "label"
    key: str = ""  # label
    days: int | None = None  # days
    start: date | None = None  # dates (either bound may be missing)
    end: date | None = None
    audience: int | None = None  # audience

    @property
    def complete(self) -> bool:
        match self.kind:
            case "label" | "without":
                return bool(self.key)
            case "days":
                return self.days is not None
            case "dates":
                return self.start is not None or self.end is not None
            case "audience":
                return self.audience is not None
        return True

    def as_json(self) -> dict:
        match self.kind:
            case "label":
                return {"label": self.key}
            case "without":
                return {"without": self.key}
            case "days":
                return {"created": {"days": self.days}}
            case "dates":
                bounds = {"from": self.start, "to": self.end}
                return {"created": {k: v.isoformat() for k, v in bounds.items() if v}}
            case "email" | "phone":
                return {"has": self.kind}
        return {"audience": self.audience}


@dataclass(frozen=True)
class Group:
    op: str = "all"
    items: tuple[Condition | Group, ...] = ()

    def as_json(self) -> dict:
        return {self.op: [item.as_json() for item in self.items]}

    def document(self) -> dict:
        return {"v": VERSION, **self.as_json()}

    def text(self) -> str:
        """The document as compact JSON, as the URL carries it."""
        return json.dumps(self.document(), separators=(",", ":"), ensure_ascii=False)


Node = Condition | Group


# --- reading --------------------------------------------------------------------------------


def parse(text: str) -> Group | None:
    """The tree in a `rule` parameter, or None for an empty one. Raises `RuleProblem`."""
    text = text.strip()
    if not text:
        return None
    if len(text) > MAX_TEXT:
        raise RuleProblem(f"The rule is too long to read ({len(text)} characters).")
    try:
        data = json.loads(text)
    except ValueError:
        raise RuleProblem(
            "The rule in the address is not readable; it may have been cut off."
        ) from None
    return from_document(data)


def from_document(data) -> Group | None:
    if not data:
        return None
    if not isinstance(data, dict):
        raise RuleProblem("The rule in the address is not readable.")
    if data.get("v", VERSION) != VERSION:
        raise RuleProblem(f"This rule was written by a newer labelsite (version {data['v']}).")
    tree = _node({k: v for k, v in data.items() if k != "v"}, depth=1)
    if not isinstance(tree, Group):
        tree = Group("all", (tree,))
    if sum(1 for _ in walk(tree)) > MAX_NODES:
        raise RuleProblem(f"A rule can have at most {MAX_NODES} groups and conditions.")
    return tree


def _node(data, *, depth: int) -> Node:
    if not isinstance(data, dict) or len(data) != 1:
        raise RuleProblem("A part of the rule is not a group or a condition.")
    ((name, value),) = data.items()
    if name in OPS:
        if depth > MAX_DEPTH:
            raise RuleProblem(f"Groups can go {MAX_DEPTH} deep at most.")
        if not isinstance(value, list):
            raise RuleProblem("A group of the rule has no list of conditions.")
        return Group(name, tuple(_node(item, depth=depth + 1) for item in value))
    if name in ("label", "without"):
        if not isinstance(value, str) or not _key_text(value):
            raise RuleProblem("A label in the rule is not a label key.")
        return Condition(name, key=value.strip())
    if name == "has":
        if value not in ("email", "phone"):
            raise RuleProblem("A rule can ask for an email or a phone, nothing else.")
        return Condition(value)
    if name == "audience":
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID
        ):
            raise RuleProblem("A saved audience in the rule is not one.")
        return Condition("audience", audience=value)
    if name == "created" and isinstance(value, dict):
        return _created(value)
    raise RuleProblem(f"The rule has a condition labelsite does not know: “{name[:40]}”.")


def _created(value: dict) -> Condition:
    if set(value) <= {"days"} and value:
        days = value["days"]
        if days is not None and (
            not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS
        ):
            raise RuleProblem(f"“Created in the last … days” takes 1 to {MAX_DAYS:,} days.")
        return Condition("days", days=days)
    if set(value) <= {"from", "to"}:
        try:
            start, end = (date.fromisoformat(value[k]) if value.get(k) else None for k in BOUNDS)
        except (TypeError, ValueError):
            raise RuleProblem(
                "A date in the rule is not a date (write it as 2026-03-31)."
            ) from None
        _dates_check(start, end)
        return Condition("dates", start=start, end=end)
    raise RuleProblem("A created-date condition has parts labelsite does not know.")


def _key_text(value: str) -> bool:
    """Whether `value` can be a label key: short, no NUL, and text both databases can store
    (JSON's escapes can spell half a surrogate pair, which no encoding can)."""
    if len(value) > 80 or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _dates_check(start: date | None, end: date | None) -> None:
    for day in (start, end):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise RuleProblem(f"Dates go from {FIRST_DAY} to {LAST_DAY}; {day} is outside.")
    if start and end and start > end:
        raise RuleProblem(f"The dates are the wrong way round: {start} is after {end}.")


def _number(value: str) -> int | None:
    """A whole number written in ASCII digits ("²" is a digit to Python, not to people)."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 19 else None


def walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Group):
        for item in node.items:
            yield from walk(item)


def label_keys(tree: Group | None) -> set[str]:
    """The label keys the tree names ("has" and "does not have" alike)."""
    return {n.key for n in walk(tree) if isinstance(n, Condition) and n.key} if tree else set()


def audience_ids(tree: Group | None) -> set[int]:
    if tree is None:
        return set()
    return {n.audience for n in walk(tree) if isinstance(n, Condition) and n.audience is not None}


def depth(node: Node) -> int:
    if isinstance(node, Condition):
        return 0
    return 1 + max((depth(item) for item in node.items), default=0)


def pruned(tree: Group | None) -> Group | None:
    """The tree as it is read for contacts: conditions not filled in and groups left empty are
    left out. None when nothing is left (the rule asks for nothing)."""
    if tree is None:
        return None
    kept = _prune(tree)
    return kept if isinstance(kept, Group) else (Group("all", (kept,)) if kept else None)


def _prune(node: Node) -> Node | None:
    if isinstance(node, Condition):
        return node if node.complete else None
    items = tuple(kept for item in node.items if (kept := _prune(item)) is not None)
    return Group(node.op, items) if items else None


def renamed(tree: Group | None, moved: Mapping[str, str]) -> Group | None:
    """The tree with label keys replaced (a label restored under a new key)."""
    if tree is None or not moved:
        return tree
    return _rename(tree, moved)


def _rename(node: Node, moved: Mapping[str, str]) -> Node:
    if isinstance(node, Condition):
        if node.kind in ("label", "without"):
            return replace(node, key=moved.get(node.key, node.key))
        return node
    return Group(node.op, tuple(_rename(item, moved) for item in node.items))


# --- editing --------------------------------------------------------------------------------

STALE = "The rule changed since this page showed it; nothing was changed. Look again and retry."


def _path(text: str) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        raise RuleProblem(STALE) from None


def node_at(tree: Group, path: tuple[int, ...]) -> Node:
    node: Node = tree
    for index in path:
        if not isinstance(node, Group) or not 0 <= index < len(node.items):
            raise RuleProblem(STALE)
        node = node.items[index]
    return node


def _replaced(node: Node, path: tuple[int, ...], new: Node | None) -> Node:
    """`node` with the node at `path` replaced by `new` (left out when None)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    items = list(node.items)
    changed = _replaced(items[head], rest, new)
    if changed is None:
        del items[head]
    else:
        items[head] = changed
    return Group(node.op, tuple(items))


def edit(
    tree: Group | None, action: str, path_text: str, value: str = ""
) -> tuple[Group, str | None]:
    """The tree after one change from the builder, and the path of the node to focus next (a
    condition added, or the group a node was removed from; None: the control in use keeps it).

    Actions: `add` (a condition at the end of the group at the path), `group` (a group there),
    `remove`, `op` (ALL/ANY/NONE), `kind`, `label`, `days`, `from`, `to`, `audience`."""
    tree = tree or Group()
    path = _path(path_text)
    node = node_at(tree, path)
    match action:
        case "add" | "group":
            if not isinstance(node, Group):
                raise RuleProblem(STALE)
            if len(path) + 1 >= MAX_DEPTH and action == "group":
                raise RuleProblem(f"Groups can go {MAX_DEPTH} deep at most.")
            if sum(1 for _ in walk(tree)) + 2 > MAX_NODES:
                raise RuleProblem(f"A rule can have at most {MAX_NODES} groups and conditions.")
            new = Condition() if action == "add" else Group("any", (Condition(),))
            # The focus goes to the new condition (a new group's first one).
            focus = (*path, len(node.items)) + (() if action == "add" else (0,))
            return _replaced(tree, path, Group(node.op, (*node.items, new))), _text(focus)
        case "remove":
            if not path:
                return Group(), ""
            return _replaced(tree, path, None), _text(path[:-1])
        case "op":
            if not isinstance(node, Group) or value not in OPS:
                raise RuleProblem(STALE)
            return _replaced(tree, path, Group(value, node.items)), None
    if not isinstance(node, Condition):
        raise RuleProblem(STALE)
    return _replaced(tree, path, _condition_edit(node, action, value.strip())), None


def _condition_edit(node: Condition, action: str, value: str) -> Condition:
    match action:
        case "kind":
            if value not in KINDS:
                raise RuleProblem(STALE)
            return Condition(value, key=node.key)
        case "label":
            if not _key_text(value) or node.kind not in ("label", "without"):
                raise RuleProblem("That is not a label.")
            return replace(node, key=value)
        case "days":
            if not value:
                return replace(node, days=None)
            days = _number(value)
            if days is None or not 1 <= days <= MAX_DAYS:
                raise RuleProblem(f"Write a number of days from 1 to {MAX_DAYS:,}.")
            return replace(node, days=days)
        case "from" | "to":
            try:
                day = date.fromisoformat(value) if value else None
            except ValueError:
                raise RuleProblem(
                    f"“{value[:20]}” is not a date; write it as 2026-03-31."
                ) from None
            start, end = (day, node.end) if action == "from" else (node.start, day)
            _dates_check(start, end)
            return replace(node, start=start, end=end)
        case "audience":
            if not value:
                return replace(node, audience=None)
            audience = _number(value)
            if audience is None or not 1 <= audience <= MAX_ID:
                raise RuleProblem("That is not a saved audience.")
            return replace(node, audience=audience)
    raise RuleProblem(STALE)


def _text(path: tuple[int, ...]) -> str:
    return ".".join(map(str, path))


# --- in words -------------------------------------------------------------------------------


def in_words(tree: Group | None, names: Mapping[str, str], audiences: Mapping[int, str]) -> str:
    """The rule as a sentence: "(VIP and Newsletter) or ((Lead or Trial) and not Customer)".

    `names` maps label keys to names (a key without one reads "<key> (deleted)"), `audiences`
    saved audiences' ids to names."""
    tree = pruned(tree)
    if tree is None:
        return ""
    return _words(tree, names, audiences, top=True)


def _words(node: Node, names, audiences, *, top: bool = False) -> str:
    if isinstance(node, Condition):
        return _condition_words(node, names, audiences)
    parts = [_words(item, names, audiences) for item in node.items]
    joined = f" {'and' if node.op == 'all' else 'or'} ".join(parts)
    if node.op == "none":
        return f"not {joined}" if len(parts) == 1 else f"not ({joined})"
    return joined if top or len(parts) == 1 else f"({joined})"


def _condition_words(node: Condition, names, audiences) -> str:
    match node.kind:
        case "label":
            return names.get(node.key) or f"{node.key} (deleted)"
        case "without":
            return "not " + (names.get(node.key) or f"{node.key} (deleted)")
        case "days":
            return f"created in the last {node.days:,} day{'s' if node.days != 1 else ''}"
        case "dates":
            if node.start and node.end:
                return f"created {node.start} to {node.end}"
            return f"created from {node.start}" if node.start else f"created up to {node.end}"
        case "email":
            return "has an email address"
        case "phone":
            return "has a phone number"
    name = audiences.get(node.audience)
    return f"in audience “{name}”" if name else f"in audience #{node.audience} (deleted)"


# --- evaluation -----------------------------------------------------------------------------


def evaluate[T](
    tree: Group,
    *,
    label: Callable[[str], T],
    condition: Callable[[Condition], T],
    everyone: Callable[[], T],
    nobody: Callable[[], T],
    both: Callable[[T, T], T],
    either: Callable[[T, T], T],
    without: Callable[[T, T], T],
) -> T:
    """The tree folded with set operations, whatever the sets are (bitmaps, Python sets, Q
    objects): one evaluator, so the index, the database and the tests read a rule alike.

    An empty ALL group is everyone, an empty ANY group nobody (as a pruned tree has neither)."""

    def fold(node: Node) -> T:
        if isinstance(node, Condition):
            if node.kind == "without":
                return without(everyone(), label(node.key))
            return label(node.key) if node.kind == "label" else condition(node)
        values = [fold(item) for item in node.items]
        if node.op == "all":
            result = values[0] if values else everyone()
            for value in values[1:]:
                result = both(result, value)
            return result
        union = values[0] if values else None
        for value in values[1:]:
            union = either(union, value)
        if node.op == "any":
            return union if union is not None else nobody()
        return everyone() if union is None else without(everyone(), union)

    return fold(tree)
