"""The sandbox's data: labels and contacts in memory, indexed for fast paging.

Contacts live in a dict by id plus a list of (createdDate, id) kept sorted, so the default
Wix order and createdDate ranges are slices found with bisect; an inverted index from label
key to contact ids answers $hasSome/$hasAll without scanning; each contact's JSON bytes are
cached per fieldset so a page of 1000 is a join of bytes. One re-entrant lock guards it all.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from operator import itemgetter

from .clock import iso, normalize_date, now_ms, parse_iso_ms
from .errors import app_error, invalid, not_found
from .filters import (
    DATES,
    EQUALITY,
    LABEL_SETS,
    TEXT,
    Field,
    compile_filter,
    items_getter,
    parse_paging,
    parse_sort,
    path_getter,
)

CUSTOM_NAMESPACE = "custom"
CUSTOM_NAMESPACE_DISPLAY = "Labels"
SYSTEM_LABELS = (
    {
        "namespace": "contacts",
        "namespaceDisplayName": "Contacts",
        "key": "contacts.customers",
        "displayName": "Customers",
        "labelType": "SYSTEM",
    },
    {
        "namespace": "contacts",
        "namespaceDisplayName": "Contacts",
        "key": "contacts.contacted-me",
        "displayName": "Contacted Me",
        "labelType": "SYSTEM",
    },
)
LABEL_TYPES = ("UNKNOWN", "SYSTEM", "USER_DEFINED", "WIX_APP_DEFINED")
MAX_DISPLAY_NAME = 180
EMAIL_TAGS = frozenset({"UNTAGGED", "MAIN", "HOME", "WORK"})
PHONE_TAGS = frozenset({"UNTAGGED", "MAIN", "HOME", "MOBILE", "WORK", "FAX"})
FIELDSETS = ("BASIC", "COMMUNICATION_DETAILS", "EXTENDED", "FULL")
DIAL_CODES = {"US": "1", "CA": "1", "GB": "44", "DE": "49", "FR": "33", "IL": "972", "AU": "61"}

LABEL_FIELDS = {
    "key": Field(path_getter("key"), frozenset({"$eq", "$ne", "$in"})),
    "displayName": Field(
        path_getter("displayName"), frozenset({"$eq", "$ne", "$in", "$startsWith"}), sortable=True
    ),
    "createdDate": Field(path_getter("createdDate"), DATES, "date", sortable=True),
    "updatedDate": Field(path_getter("updatedDate"), DATES, "date", sortable=True),
    "namespace": Field(path_getter("namespace"), frozenset({"$eq", "$ne"})),
    "labelType": Field(path_getter("labelType"), frozenset({"$eq"})),
}

CONTACT_FIELDS = {
    "id": Field(path_getter("id"), EQUALITY),
    "createdDate": Field(path_getter("createdDate"), DATES, "date", sortable=True),
    "updatedDate": Field(path_getter("updatedDate"), DATES, "date"),
    "info.name.first": Field(path_getter("info.name.first"), TEXT, sortable=True),
    "info.name.last": Field(path_getter("info.name.last"), TEXT, sortable=True),
    "primaryInfo.email": Field(path_getter("primaryInfo.email"), TEXT, sortable=True),
    "primaryInfo.phone": Field(path_getter("primaryInfo.phone"), TEXT),
    "info.company": Field(path_getter("info.company"), TEXT, sortable=True),
    "info.jobTitle": Field(path_getter("info.jobTitle"), TEXT, sortable=True),
    "info.locale": Field(path_getter("info.locale"), EQUALITY),
    "info.emails.email": Field(items_getter("info.emails", "email"), TEXT, "strs"),
    "info.phones.phone": Field(items_getter("info.phones", "phone"), TEXT, "strs"),
    "info.labelKeys": Field(items_getter("info.labelKeys"), LABEL_SETS, "strs"),
}

_created = itemgetter(0)
_SLUG_JUNK = re.compile(r"[^a-z0-9]+")

# listener(eventType, entityFqdn, slug, entityId, entity): `entity` renders the entity's JSON
# (or None for deletions) and is only called when someone wants it, as it costs a dumps.
Listener = Callable[[str, str, str, str, Callable[[], str | None]], None]


def dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


KEY_MAX_LENGTH = 80


def slugify(display_name: str) -> str:
    return _SLUG_JUNK.sub("-", display_name.lower()).strip("-") or "label"


def primary_info(info: dict) -> dict:
    primary = {}
    for kind, attribute in (("emails", "email"), ("phones", "phone")):
        for item in info.get(kind, {}).get("items", []):
            if item.get("primary"):
                primary[attribute] = item[attribute]
                break
    return primary


class Store:
    def __init__(self, *, label_quota: int = 10_000):
        self.lock = threading.RLock()
        self.label_quota = label_quota
        self.listeners: list[Listener] = []
        self.on_change: Callable[[], None] = lambda: None
        self.replace_all([], [], set())

    # -- bulk load -------------------------------------------------------------------------

    def replace_all(self, labels: list[dict], contacts: list[dict], used_keys: set[str]) -> None:
        with self.lock:
            self.labels: dict[str, dict] = {}
            for label in (*SYSTEM_LABELS, *labels):
                self.labels[label["key"]] = dict(label)
            self.key_by_name = {label["displayName"]: key for key, label in self.labels.items()}
            self.used_keys = set(used_keys) | set(self.labels)
            self.contacts: dict[str, dict] = {contact["id"]: contact for contact in contacts}
            self.order = sorted((contact["createdDate"], contact["id"]) for contact in contacts)
            self.by_label: dict[str, set[str]] = {key: set() for key in self.labels}
            for contact in contacts:
                for key in contact["info"]["labelKeys"]["items"]:
                    self.by_label.setdefault(key, set()).add(contact["id"])
            self._json: dict[str, dict[str, bytes]] = {}

    def state_bytes(self) -> bytes:
        with self.lock:
            labels = [label for label in self.labels.values() if label["labelType"] != "SYSTEM"]
            head = dumps({"version": 1, "labels": labels, "usedKeys": sorted(self.used_keys)})
            contacts = b",".join(self.contact_bytes(cid, "FULL") for _, cid in self.order)
        return head[:-1] + b',"contacts":[' + contacts + b"]}"

    def load_state(self, state: dict) -> None:
        self.replace_all(state["labels"], state["contacts"], set(state.get("usedKeys", ())))

    # -- events -----------------------------------------------------------------------------

    def _emit(self, event: str, entity_id: str, entity: Callable[[], str | None]) -> None:
        kind, _, slug = event.partition("_")
        fqdn = f"wix.contacts.v4.{kind}"
        for listener in self.listeners:
            listener(f"wix.contacts.v4.{event}", fqdn, slug, entity_id, entity)
        self.on_change()

    def _contact_json(self, cid: str) -> Callable[[], str]:
        return lambda: self.contact_bytes(cid).decode()

    # -- labels -----------------------------------------------------------------------------

    def _label(self, key: str) -> dict:
        label = self.labels.get(key)
        if label is None:
            raise not_found(f"Label {key}")
        return label

    def get_label(self, key: str) -> dict:
        with self.lock:
            return dict(self._label(key))

    def find_or_create_label(self, display_name: object) -> tuple[dict, bool]:
        display_name = validate_display_name(display_name)
        with self.lock:
            existing = self.key_by_name.get(display_name)
            if existing is not None:
                return dict(self.labels[existing]), False
            user_labels = sum(1 for label in self.labels.values() if label["labelType"] != "SYSTEM")
            if user_labels >= self.label_quota:
                raise app_error(
                    428,
                    "LABELS_QUOTA_REACHED",
                    "The site has reached its maximum number of labels",
                    {"labelsQuota": str(self.label_quota), "labelsCurrentTotal": str(user_labels)},
                )
            stamp = iso(now_ms())
            label = {
                "namespace": CUSTOM_NAMESPACE,
                "namespaceDisplayName": CUSTOM_NAMESPACE_DISPLAY,
                "key": self.new_key(display_name),
                "displayName": display_name,
                "labelType": "USER_DEFINED",
                "createdDate": stamp,
                "updatedDate": stamp,
            }
            self.labels[label["key"]] = label
            self.key_by_name[display_name] = label["key"]
            self.by_label[label["key"]] = set()
            self._emit("label_created", label["key"], lambda: json.dumps(label))
            return dict(label), True

    def new_key(self, display_name: str) -> str:
        # Keys are at most 80 characters (label object, facts section 1): a long name's slug is
        # cut short, leaving room for a "-N" suffix.
        base = f"{CUSTOM_NAMESPACE}.{slugify(display_name)}"[: KEY_MAX_LENGTH - 6].rstrip("-")
        key, suffix = base, 1
        while key in self.used_keys:
            suffix += 1
            key = f"{base}-{suffix}"
        self.used_keys.add(key)
        return key

    def rename_label(self, key: str, display_name: object) -> dict:
        with self.lock:
            label = self._label(key)
            display_name = validate_display_name(display_name, "label.displayName")
            if label["labelType"] == "SYSTEM":
                raise app_error(
                    400, "SYSTEM_LABEL_READ_ONLY", f"System label {key} can't be renamed"
                )
            if display_name == label["displayName"]:
                return dict(label)
            if display_name in self.key_by_name:
                raise app_error(
                    409,
                    "LABEL_ALREADY_EXISTS",
                    f"A label named {display_name!r} already exists",
                    {"key": self.key_by_name[display_name]},
                )
            del self.key_by_name[label["displayName"]]
            label["displayName"] = display_name
            label["updatedDate"] = _later(label["updatedDate"])
            self.key_by_name[display_name] = key
            self._emit("label_updated", key, lambda: json.dumps(label))
            return dict(label)

    def delete_label(self, key: str) -> None:
        with self.lock:
            label = self._label(key)
            if label["labelType"] == "SYSTEM":
                raise app_error(
                    400, "SYSTEM_LABEL_READ_ONLY", f"System label {key} can't be deleted"
                )
            del self.labels[key]
            del self.key_by_name[label["displayName"]]
            holders = self.by_label.pop(key, set())
            self._emit("label_deleted", key, _nothing)
            for _, cid in self.order:
                if cid in holders:
                    self._change_labels(self.contacts[cid], remove=(key,))

    def list_labels(
        self, params: dict[str, list[str]], short_pages: int | None = None, churn=None
    ) -> dict:
        def one(name: str) -> str | None:
            values = params.get(name)
            return values[-1] if values else None

        paging = {}
        for name in ("limit", "offset"):
            if (value := one(f"paging.{name}")) is not None:
                paging[name] = value
        limit, offset = parse_paging(paging, "paging", default=1000, maximum=2000)
        label_type = one("labelType")
        if label_type is not None and label_type not in LABEL_TYPES:
            raise invalid("labelType", f"must be one of {', '.join(LABEL_TYPES)}", "OTHER")
        namespace, starts_with = one("namespace"), one("startsWith")
        sort = []
        if one("sort.fieldName") is not None or one("sort.order") is not None:
            sort = parse_sort(
                {
                    "fieldName": one("sort.fieldName") or "createdDate",
                    "order": one("sort.order") or "ASC",
                },
                LABEL_FIELDS,
                "sort",
                1,
            )
        prefix = (starts_with or "").casefold()  # Wix's $startsWith ignores case

        def matches(label: dict) -> bool:
            return (
                (label_type in (None, "UNKNOWN") or label["labelType"] == label_type)
                and (namespace is None or label["namespace"] == namespace)
                and label["displayName"].casefold().startswith(prefix)
            )

        page, total = self._label_page(matches, sort, offset, limit, short_pages, churn)
        return {"labels": page, "metadata": _paging(len(page), offset, total)}

    def _label_page(self, predicate, sort, offset, limit, short_pages, churn):
        with self.lock:
            ordered = _sorted_labels([lb for lb in self.labels.values() if predicate(lb)], sort)
            if churn is not None and 0 < offset <= len(ordered) and churn():
                seen = ordered[offset - 1]
                if seen["labelType"] != "SYSTEM":  # deleted in Wix while the reader pages
                    self.delete_label(seen["key"])
                    ordered = [label for label in ordered if label["key"] != seen["key"]]
            if short_pages is not None:
                limit = min(limit, short_pages)
            page = [dict(label) for label in ordered[offset : offset + limit]]
        return page, len(ordered)

    def query_labels(self, query: object, short_pages: int | None = None, churn=None) -> dict:
        if query is None:
            query = {}
        if not isinstance(query, dict):
            raise invalid("query", "must be an object", "FORMAT")
        predicate = compile_filter(query.get("filter"), LABEL_FIELDS, "query.filter")
        sort = parse_sort(query.get("sort"), LABEL_FIELDS, "query.sort", None)
        limit, offset = parse_paging(query.get("paging"), "query.paging", default=50, maximum=1000)
        page, total = self._label_page(predicate, sort, offset, limit, short_pages, churn)
        return {"labels": page, "pagingMetadata": _paging(len(page), offset, total)}

    def labels_in_order(self) -> list[dict]:
        with self.lock:
            return [dict(label) for label in _sorted_labels(list(self.labels.values()), [])]

    # -- contacts ---------------------------------------------------------------------------

    def _contact(self, cid: str) -> dict:
        contact = self.contacts.get(cid)
        if contact is None:
            raise not_found(f"Contact {cid}")
        return contact

    def contact_bytes(self, cid: str, fieldset: str = "FULL") -> bytes:
        cached = self._json.get(cid)
        if cached is None:
            cached = self._json[cid] = {}
        data = cached.get(fieldset)
        if data is None:
            data = cached[fieldset] = dumps(project(self.contacts[cid], fieldset))
        return data

    def contact_response(self, cid: str, fieldset: str = "FULL") -> bytes:
        with self.lock:
            return b'{"contact":' + self.contact_bytes(cid, fieldset) + b"}"

    def get_contact(self, cid: str, fieldset: str = "FULL") -> bytes:
        if fieldset not in FIELDSETS:
            raise invalid("fieldsets", f"must be one of {', '.join(FIELDSETS)}", "OTHER")
        with self.lock:
            self._contact(cid)
            return self.contact_response(cid, fieldset)

    def create_contact(self, body: dict) -> bytes:
        with self.lock:
            info = self._normalize_info(body.get("info"), "info")
            stamp = now_ms()
            created = iso(stamp)
            contact = build_contact(str(uuid.uuid4()), 1, created, created, info)
            self._insert(contact)
            self._emit("contact_created", contact["id"], self._contact_json(contact["id"]))
            return self.contact_response(contact["id"])

    def _insert(self, contact: dict) -> None:
        cid = contact["id"]
        self.contacts[cid] = contact
        entry = (contact["createdDate"], cid)
        self.order.insert(bisect_left(self.order, entry), entry)
        for key in contact["info"]["labelKeys"]["items"]:
            self.by_label[key].add(cid)

    def update_contact(self, cid: str, body: dict) -> bytes:
        with self.lock:
            contact = self._contact(cid)
            revision = body.get("revision")
            if revision is None:
                raise invalid("revision", "is required", "REQUIRED_FIELD")
            try:
                revision = int(revision)
            except (TypeError, ValueError):
                raise invalid("revision", "must be an integer", "FORMAT") from None
            if revision != contact["revision"]:
                raise app_error(
                    409,
                    "REVISION_MISMATCH",
                    f"Contact {cid} is at revision {contact['revision']}, not {revision}",
                    {"currentRevision": contact["revision"]},
                )
            changes = body.get("info")
            if not isinstance(changes, dict):
                raise invalid("info", "is required and must be an object", "REQUIRED_FIELD")
            info = self._normalize_info({**contact["info"], **changes}, "info")
            for key in contact["info"]["labelKeys"]["items"]:
                self.by_label[key].discard(cid)
            for key in info["labelKeys"]["items"]:
                self.by_label[key].add(cid)
            contact["info"] = info
            contact["primaryInfo"] = primary_info(info)
            self._bump(contact)
            return self.contact_response(cid)

    def delete_contact(self, cid: str) -> None:
        with self.lock:
            contact = self._contact(cid)
            del self.contacts[cid]
            self._json.pop(cid, None)
            entry = (contact["createdDate"], cid)
            del self.order[bisect_left(self.order, entry)]
            for key in contact["info"]["labelKeys"]["items"]:
                self.by_label[key].discard(cid)
            self._emit("contact_deleted", cid, _nothing)

    def label_contact(self, cid: str, keys: object) -> bytes:
        with self.lock:
            contact = self._contact(cid)
            self._change_labels(contact, add=self.existing_keys(keys, "labelKeys"))
            return self.contact_response(cid)

    def unlabel_contact(self, cid: str, keys: object) -> bytes:
        with self.lock:
            contact = self._contact(cid)
            self._change_labels(contact, remove=self.existing_keys(keys, "labelKeys"))
            return self.contact_response(cid)

    def existing_keys(self, keys: object, field: str, required: bool = True) -> list[str]:
        if keys is None and not required:
            return []
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise invalid(field, "must be a list of label keys", "FORMAT")
        if required and not keys:
            raise invalid(field, "must contain at least one label key", "MIN_SIZE")
        for key in keys:
            if key not in self.labels:
                raise not_found(f"Label {key}", "LABEL_NOT_FOUND")
        return list(dict.fromkeys(keys))

    def bulk_apply(self, ids: list[str], add: list[str], remove: list[str]) -> list[str]:
        """Adds/removes labels on each contact that still exists; returns the missing ids."""
        missing = []
        with self.lock:
            for cid in ids:
                contact = self.contacts.get(cid)
                if contact is None:
                    missing.append(cid)
                else:
                    self._change_labels(contact, add=add, remove=remove)
        return missing

    def _change_labels(
        self, contact: dict, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> bool:
        """Returns whether the contact changed; unchanged contacts keep their revision."""
        items = contact["info"]["labelKeys"]["items"]
        removing = set(remove)
        kept = [key for key in items if key not in removing]
        adding = [key for key in add if key not in kept and key in self.labels]
        if len(kept) == len(items) and not adding:
            return False
        cid = contact["id"]
        for key in items:
            if key in removing:
                self.by_label.get(key, set()).discard(cid)
        for key in adding:
            self.by_label[key].add(cid)
        contact["info"]["labelKeys"]["items"] = kept + adding
        self._bump(contact)
        return True

    def _bump(self, contact: dict) -> None:
        contact["revision"] += 1
        contact["updatedDate"] = _later(contact["updatedDate"])
        self._json.pop(contact["id"], None)
        self._emit("contact_updated", contact["id"], self._contact_json(contact["id"]))

    def _normalize_info(self, raw: object, where: str) -> dict:
        if not isinstance(raw, dict):
            raise invalid(where, "is required and must be an object", "REQUIRED_FIELD")
        info: dict = {}
        name = raw.get("name")
        if name is not None:
            if not isinstance(name, dict) or not all(
                isinstance(name.get(part), str | None) for part in ("first", "last")
            ):
                raise invalid(f"{where}.name", "must be {first, last} strings", "FORMAT")
            info["name"] = {part: name[part] for part in ("first", "last") if name.get(part)}
        info["emails"] = {
            "items": _items(raw.get("emails"), f"{where}.emails", "email", EMAIL_TAGS)
        }
        info["phones"] = {
            "items": _items(raw.get("phones"), f"{where}.phones", "phone", PHONE_TAGS)
        }
        for item in info["phones"]["items"]:
            dial = DIAL_CODES.get(item.get("countryCode", ""))
            if "e164Phone" not in item and dial:
                item["e164Phone"] = "+" + dial + re.sub(r"\D", "", item["phone"])
        for key, value in raw.items():
            if key not in ("name", "emails", "phones", "labelKeys"):
                info[key] = value
        labels = raw.get("labelKeys") or {"items": []}
        if not isinstance(labels, dict):
            raise invalid(f"{where}.labelKeys", "must be {items: [...]}", "FORMAT")
        keys = self.existing_keys(labels.get("items", []), f"{where}.labelKeys.items", False)
        info["labelKeys"] = {"items": keys}
        return info

    # -- contact queries --------------------------------------------------------------------

    def query_contacts(self, query: object, short_pages: int | None = None) -> bytes:
        if query is None:
            query = {}
        if not isinstance(query, dict):
            raise invalid("query", "must be an object", "FORMAT")
        filter_ = query.get("filter")
        compile_filter(filter_, CONTACT_FIELDS, "query.filter")
        sort = parse_sort(query.get("sort"), CONTACT_FIELDS, "query.sort", 1)
        limit, offset = parse_paging(query.get("paging"), "query.paging", default=50, maximum=1000)
        fieldset, fields = _fieldset(query)
        if short_pages is not None:
            limit = min(limit, short_pages)
        with self.lock:
            ids, total = self._select(filter_, sort, offset, limit)
            if fields is None:
                items = b",".join(self.contact_bytes(cid, fieldset) for cid in ids)
            else:
                items = b",".join(dumps(pick(self.contacts[cid], fields)) for cid in ids)
        paging = dumps(_paging(len(ids), offset, total))
        return b'{"contacts":[' + items + b'],"pagingMetadata":' + paging + b"}"

    def matching_ids(self, filter_: object, search: object) -> list[str]:
        compile_filter(filter_, CONTACT_FIELDS, "filter")
        extra = None
        if search is not None:
            if not isinstance(search, str) or len(search) > 100:
                raise invalid("search", "must be a string of at most 100 characters", "MAX_LENGTH")
            needle = search.casefold()

            def extra(contact: dict) -> bool:
                return needle in _search_terms(contact)

        with self.lock:
            return self._select(filter_, [], 0, None, extra)[0]

    def _select(self, filter_, sort, offset, limit, extra=None):
        """Narrow with bisect and the label index, then test the rest; returns (page, total).

        `filter_` must have been validated with compile_filter already.
        """
        lo, hi, candidates, rest = self._plan(filter_)
        if list(sort) == [("createdDate", False)]:
            sort = []  # self.order already is (createdDate, id) ascending: nothing to sort
        if extra is not None:
            rest = extra if rest is None else _both(rest, extra)
        if candidates is None and rest is None and not sort:
            end = hi if limit is None else min(hi, lo + offset + limit)
            return [cid for _, cid in self.order[lo + offset : end]], max(hi - lo, 0)
        if candidates is None:
            ids = [cid for _, cid in self.order[lo:hi]]
        elif len(candidates) * 8 < hi - lo:
            window = sorted(
                (self.contacts[cid]["createdDate"], cid)
                for cid in candidates
                if cid in self.contacts
            )
            if lo < hi:
                first, last = self.order[lo], self.order[hi - 1]
                ids = [cid for entry in window if first <= entry <= last for cid in (entry[1],)]
            else:
                ids = []
        else:
            ids = [cid for _, cid in self.order[lo:hi] if cid in candidates]
        if rest is not None:
            contacts = self.contacts
            ids = [cid for cid in ids if rest(contacts[cid])]
        for name, descending in sort:
            get = CONTACT_FIELDS[name].get
            contacts = self.contacts
            if name != "createdDate":
                ids.sort()
            ids.sort(key=lambda cid: get(contacts[cid]) or "", reverse=descending)
        end = None if limit is None else offset + limit
        return ids[offset:end], len(ids)

    def _plan(self, filter_):
        """Splits the top-level AND of a (validated) filter into index lookups and the rest."""
        lo, hi = 0, len(self.order)
        candidates: set[str] | None = None
        rest: list[dict] = []
        for name, condition in _conjuncts(filter_):
            ops = condition if isinstance(condition, dict) else {"$eq": condition}
            if name == "createdDate" and set(ops) <= {"$eq", "$gt", "$gte", "$lt", "$lte"}:
                for op, operand in ops.items():
                    value = _norm_date(operand)
                    if op in ("$gt", "$lte", "$eq"):
                        cut = bisect_right(self.order, value, key=_created)
                        if op == "$gt":
                            lo = max(lo, cut)
                        else:
                            hi = min(hi, cut)
                    if op in ("$gte", "$lt", "$eq"):
                        cut = bisect_left(self.order, value, key=_created)
                        if op == "$lt":
                            hi = min(hi, cut)
                        else:
                            lo = max(lo, cut)
            elif name == "info.labelKeys":
                for op, keys in ops.items():
                    sets = [self.by_label.get(key, set()) for key in keys]
                    found = set().union(*sets) if op == "$hasSome" else _intersect(sets)
                    candidates = found if candidates is None else candidates & found
            elif name == "id" and set(ops) <= {"$eq", "$in"}:
                for op, operand in ops.items():
                    found = {operand} if op == "$eq" else set(operand)
                    candidates = found if candidates is None else candidates & found
            else:
                rest.append({name: condition})
        predicate = compile_filter({"$and": rest}, CONTACT_FIELDS) if rest else None
        return lo, hi, candidates, predicate

    def facets(self) -> dict:
        with self.lock:
            unlabeled = sum(
                1 for c in self.contacts.values() if not c["info"]["labelKeys"]["items"]
            )
            facets = [
                {
                    "facetType": "ALL_CONTACTS",
                    "facetKey": "all-contacts",
                    "count": len(self.contacts),
                },
                {"facetType": "NOT_LABELED", "facetKey": "not-labeled", "count": unlabeled},
            ]
            for label in _sorted_labels(list(self.labels.values()), []):
                key = label["key"]
                facets.append(
                    {
                        "facetType": "LABEL",
                        "namespace": label["namespace"],
                        "namespaceDisplayName": label["namespaceDisplayName"],
                        "facetKey": key,
                        "facetDisplayName": label["displayName"],
                        "count": len(self.by_label.get(key, ())),
                        "queryFilter": json.dumps({"info.labelKeys": {"$hasSome": [key]}}),
                    }
                )
        return {"facets": facets}

    def dump(self) -> dict:
        with self.lock:
            contacts = [
                {
                    "id": cid,
                    "revision": (contact := self.contacts[cid])["revision"],
                    "labelKeys": list(contact["info"]["labelKeys"]["items"]),
                    "createdDate": contact["createdDate"],
                    "updatedDate": contact["updatedDate"],
                }
                for _, cid in self.order
            ]
            return {"labels": self.labels_in_order(), "contacts": contacts}


def validate_display_name(value: object, field: str = "displayName") -> str:
    if not isinstance(value, str) or not value:
        raise invalid(field, "is required", "REQUIRED_FIELD")
    if not value.strip():
        raise invalid(field, "must not be only white space", "FORMAT")
    if len(value) > MAX_DISPLAY_NAME:
        raise invalid(
            field,
            f"must be at most {MAX_DISPLAY_NAME} characters",
            "MAX_LENGTH",
            {"max": MAX_DISPLAY_NAME},
        )
    return value


def build_contact(cid: str, revision: int, created: str, updated: str, info: dict) -> dict:
    return {
        "id": cid,
        "revision": revision,
        "source": {"sourceType": "ADMIN"},
        "createdDate": created,
        "updatedDate": updated,
        "primaryInfo": primary_info(info),
        "info": info,
    }


def project(contact: dict, fieldset: str) -> dict:
    if fieldset == "FULL":
        return contact
    info = contact["info"]
    kept = {"name"}
    if fieldset == "COMMUNICATION_DETAILS":
        kept |= {"emails", "phones", "addresses"}
    elif fieldset == "EXTENDED":
        kept |= {"extendedFields"}
    return {
        "id": contact["id"],
        "revision": contact["revision"],
        "createdDate": contact["createdDate"],
        "updatedDate": contact["updatedDate"],
        "primaryInfo": contact["primaryInfo"],
        "info": {key: value for key, value in info.items() if key in kept},
    }


def pick(contact: dict, fields: list[str]) -> dict:
    """Projection for `fields`: the id plus each requested path that the contact has."""
    picked: dict = {"id": contact["id"]}
    for path in fields:
        source, target = contact, picked
        parts = path.split(".")
        for part in parts[:-1]:
            source = source.get(part) if isinstance(source, dict) else None
            target = target.setdefault(part, {})
        if isinstance(source, dict) and parts[-1] in source:
            target[parts[-1]] = source[parts[-1]]
    return picked


def _fieldset(query: dict) -> tuple[str, list[str] | None]:
    fields = query.get("fields")
    if fields:
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise invalid("query.fields", "must be a list of field paths", "FORMAT")
        return "FULL", fields
    fieldsets = query.get("fieldsets") or ["FULL"]
    if isinstance(fieldsets, str):
        fieldsets = [fieldsets]
    if not isinstance(fieldsets, list) or any(f not in FIELDSETS for f in fieldsets):
        raise invalid("query.fieldsets", f"must be a list of {', '.join(FIELDSETS)}", "OTHER")
    # The widest requested fieldset wins, as each one includes the narrower ones we model.
    return max(fieldsets, key=FIELDSETS.index), None


def _items(wrapper: object, where: str, attribute: str, tags: frozenset[str]) -> list[dict]:
    if wrapper is None:
        return []
    items = wrapper.get("items") if isinstance(wrapper, dict) else None
    if not isinstance(items, list):
        raise invalid(f"{where}.items", "must be a list", "FORMAT")
    if len(items) > 50:
        raise invalid(f"{where}.items", "at most 50 items", "MAX_SIZE", {"max": 50})
    normalized = []
    for index, item in enumerate(items):
        here = f"{where}.items[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get(attribute), str):
            raise invalid(f"{here}.{attribute}", "is required", "REQUIRED_FIELD")
        tag = item.get("tag", "UNTAGGED")
        if tag not in tags:
            raise invalid(f"{here}.tag", f"must be one of {', '.join(sorted(tags))}", "OTHER")
        entry = {"id": item.get("id") or str(uuid.uuid4()), "tag": tag}
        entry.update((k, v) for k, v in item.items() if k not in ("id", "tag", "primary"))
        entry["primary"] = bool(item.get("primary"))
        normalized.append(entry)
    # Exactly one item is primary: the first one marked so, else the first one.
    chosen = next((i for i, entry in enumerate(normalized) if entry["primary"]), 0)
    for index, entry in enumerate(normalized):
        entry["primary"] = index == chosen
    return normalized


def _search_terms(contact: dict) -> list[str]:
    info = contact["info"]
    name = info.get("name", {})
    terms = [name.get("first"), name.get("last")]
    terms += [item["email"] for item in info["emails"]["items"]]
    terms += [item["phone"] for item in info["phones"]["items"]]
    return [term.casefold() for term in terms if term]


def _conjuncts(filter_: object) -> list[tuple[str, object]]:
    if not isinstance(filter_, dict):
        return []
    found = []
    for key, value in filter_.items():
        if key == "$and":
            for item in value:
                found += _conjuncts(item)
        else:
            found.append((key, value))
    return found


def _norm_date(value: object) -> str:
    return normalize_date(value, "createdDate")


def _both(first, second):
    return lambda contact: first(contact) and second(contact)


def _nothing() -> None:
    return None


def _intersect(sets: list[set[str]]) -> set[str]:
    if not sets:
        return set()
    smallest = min(sets, key=len)
    return {cid for cid in smallest if all(cid in other for other in sets)}


def _later(previous: str) -> str:
    """A fresh timestamp that is strictly after the previous one, so every change shows."""
    stamp = iso(now_ms())
    return stamp if stamp > previous else iso(parse_iso_ms(previous) + 1)


def _sorted_labels(labels: list[dict], sort: list) -> list[dict]:
    # Default order, as Wix documents it: newest first (createdDate descending); system labels
    # have no dates and come last; ties by key.
    ordered = sorted(labels, key=lambda label: label["key"])
    ordered.sort(key=lambda label: label.get("createdDate", ""), reverse=True)
    for name, descending in reversed(sort):
        ordered.sort(key=lambda label: label.get(name) or "", reverse=descending)
    return ordered


def _paging(count: int, offset: int, total: int) -> dict:
    return {"count": count, "offset": offset, "total": total, "tooManyToCount": False}
