"""What names a label by its key, across the apps: the journal remembers the names labels had,
and the apps register what of theirs uses a key (saved audiences, living rules), so that a
delete or a merge can first say what it breaks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from journal.models import OperationRef


@dataclass(frozen=True)
class KeyUser:
    """Something that names a label key: e.g. a saved audience."""

    kind: str  # "audience"
    name: str
    url: str
    keys: frozenset[str]


# each: keys -> the things that use any of them
KEY_USER_FINDERS: list[Callable[[set[str]], list[KeyUser]]] = []


def key_users(keys: Iterable[str]) -> list[KeyUser]:
    return _found(KEY_USER_FINDERS, keys)


# each: keys -> what keeps a label of those keys equal to itself (a living audience), found by
# the key alone (the labels page asks for every page of labels it shows)
LABEL_KEEPER_FINDERS: list[Callable[[set[str]], list[KeyUser]]] = []


def label_keepers(keys: Iterable[str]) -> list[KeyUser]:
    return _found(LABEL_KEEPER_FINDERS, keys)


def _found(finders: list[Callable[[set[str]], list[KeyUser]]], keys: Iterable[str]):
    keys = set(keys)
    return [user for find in finders for user in find(keys)] if keys else []


def label_names_known(keys: Iterable[str]) -> dict[str, str]:
    """The last name the journal saw for each label key (labels deleted since included)."""
    keys = set(keys)
    if not keys:
        return {}
    rows = (
        OperationRef.objects.filter(kind=OperationRef.Kind.LABEL, ref__in=keys)
        .exclude(name="")
        .order_by("ref", "-id")
        .values_list("ref", "name")
    )
    names: dict[str, str] = {}
    for ref, name in rows:
        names.setdefault(ref, name)
    return names
