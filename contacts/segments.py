"""An audience's rules: which labels a contact must have, may have, must lack, and a search.

Rules travel as GET parameters (`all`, `any`, `none`, `unlabeled`, `q`, and `rule` for a nested
rule, see `contacts.rules`), so a link or a reload keeps the audience, and are stored as JSON on a
saved `Audience`. They are never a list of
contact ids: a bulk change resolves them to contacts when it starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from urllib.parse import urlencode

from contacts import rules as nested

MAX_KEYS_PER_GROUP = 50
MAX_SEARCH_LENGTH = 200
MAX_SEARCH_WORDS = 8  # each word is one more condition on four columns
MAX_WORD_LENGTH = 80  # no name, email or phone has a longer word


def search_words(text: str) -> list[str]:
    """The search's words, each once (case does not matter: the search ignores it)."""
    seen: dict[str, str] = {}
    for word in text.split():
        seen.setdefault(word.casefold(), word)
    return list(seen.values())


def search_problem(text: str) -> str:
    """Why `text` is too much to search for, in plain words, or ""."""
    words = search_words(text)
    if len(words) > MAX_SEARCH_WORDS:
        return (
            f"Search for at most {MAX_SEARCH_WORDS} different words at a time; "
            f"this search has {len(words)}."
        )
    long = next((word for word in words if len(word) > MAX_WORD_LENGTH), None)
    if long is not None:
        return (
            f"A search word can have at most {MAX_WORD_LENGTH} characters; "
            f"“{long[:20]}…” has {len(long)}."
        )
    return ""


PARAMS = ("all", "any", "none", "unlabeled", "q", "rule")


def _unique(keys) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k for k in keys if k))


@dataclass(frozen=True)
class SegmentRules:
    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()
    unlabeled: bool = False
    search: str = ""
    # A nested rule, ANDed with the groups above (`contacts.rules`); may hold conditions not
    # filled in yet, which `nested_rule` leaves out.
    tree: nested.Group | None = None
    unknown_keys: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("all_of", "any_of", "none_of"):
            object.__setattr__(self, name, _unique(getattr(self, name)))
        object.__setattr__(self, "search", " ".join(search_words(self.search)))

    @property
    def keys(self) -> set[str]:
        return {*self.all_of, *self.any_of, *self.none_of, *nested.label_keys(self.tree)}

    @property
    def nested_rule(self) -> nested.Group | None:
        """The nested rule as it is read for contacts: without the parts not filled in."""
        return nested.pruned(self.tree)

    def as_params(self) -> list[tuple[str, str]]:
        params = [("all", k) for k in self.all_of]
        params += [("any", k) for k in self.any_of]
        params += [("none", k) for k in self.none_of]
        if self.unlabeled:
            params.append(("unlabeled", "1"))
        if self.search:
            params.append(("q", self.search))
        if self.tree is not None and self.tree.items:
            params.append(("rule", self.tree.text()))
        return params

    def querystring(self, **extra) -> str:
        params = self.as_params() + [(k, str(v)) for k, v in extra.items() if v not in (None, "")]
        return urlencode(params)

    def as_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name in JSON_FIELDS}
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
        if self.tree is not None and self.tree.items:
            data["tree"] = self.tree.document()
        return data

    @classmethod
    def from_json(cls, data: dict) -> SegmentRules:
        return cls(
            all_of=tuple(data.get("all_of", ())),
            any_of=tuple(data.get("any_of", ())),
            none_of=tuple(data.get("none_of", ())),
            unlabeled=bool(data.get("unlabeled", False)),
            search=str(data.get("search", "")),
            tree=_stored_tree(data.get("tree")),
        )


JSON_FIELDS = ("all_of", "any_of", "none_of", "unlabeled", "search")


def _stored_tree(document) -> nested.Group | None:
    """A saved audience's nested rule. One that cannot be read (edited by hand in the database)
    matches nobody rather than being dropped: dropping it would widen the audience."""
    try:
        return nested.from_document(document)
    except nested.RuleProblem:
        return nested.Group("any", (nested.Condition("label", key="an unreadable rule"),))


GROUP_WORDS = (("all_of", "ALL of"), ("any_of", "ANY of"), ("none_of", "NONE of"))


def rules_in_words(
    rules: SegmentRules, names: Mapping[str, str], audiences: Mapping[int, str] | None = None
) -> str:
    """The rules as one line: "ALL of Lead, VIP · NONE of Unsubscribed · search “anna”", the
    nested rule as a sentence after them.

    `names` maps keys to label names; a key without one is a label deleted since. `audiences`
    maps saved audiences' ids to names, for a nested rule that names them."""
    parts = []
    for field_name, words in GROUP_WORDS:
        keys = getattr(rules, field_name)
        if keys:
            labels = ", ".join(names.get(key) or f"{key} (deleted)" for key in keys)
            parts.append(f"{words} {labels}")
    if rules.unlabeled:
        parts.append("only contacts with no labels")
    if rules.search:
        parts.append(f"search “{rules.search}”")
    if sentence := nested.in_words(rules.tree, names, audiences or {}):
        parts.append(sentence)
    return " · ".join(parts) or "Every contact"
