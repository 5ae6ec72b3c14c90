"""The architecture, checked on the source: one module talks to Wix, dependencies point one way.

    labelsite.wix  ←  wixcache  ←  journal  ←  labels  ←  contacts  ←  sync

`labelsite` outside `labelsite.wix` (views, admin, errors, settings, urls) is shared by all.
Only the app's own packages are read; tests, benchmarks and the sandbox are not the app.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP_PACKAGES = ("labelsite", "wixcache", "journal", "labels", "contacts", "sync")
WIX_CLIENT = "labelsite.wix"

# package -> the packages it must not import (its own layer and those above it stay allowed)
FORBIDDEN_IMPORTS = {
    "wixcache": ("journal", "labels", "contacts", "sync"),
    "journal": ("labels", "contacts", "sync"),
    "labels": ("contacts", "sync"),
    "contacts": ("sync",),
    WIX_CLIENT: ("wixcache", "journal", "labels", "contacts", "sync", "labelsite"),
}


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. "labels.views"
    path: Path
    source: str
    tree: ast.Module

    @property
    def relative(self) -> str:
        return str(self.path.relative_to(ROOT))

    @property
    def is_migration(self) -> bool:
        return ".migrations." in f".{self.name}."

    def within(self, package: str) -> bool:
        return self.name == package or self.name.startswith(package + ".")


@cache
def app_modules() -> tuple[Module, ...]:
    modules = []
    for package in APP_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            source = path.read_text(encoding="utf-8")
            modules.append(Module(".".join(parts), path, source, ast.parse(source, str(path))))
    return tuple(modules)


def imported_names(module: Module) -> list[tuple[int, str]]:
    """(line, dotted module name) of every import, at the top or inside a function."""
    package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
    found = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return found


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_app_packages_are_read():
    names = {module.name for module in app_modules()}
    assert {"labelsite.wix.client", "wixcache.store", "labels.views", "sync.service"} <= names
    assert not any(name.startswith(("tests", "bench", "wixsandbox")) for name in names)


def test_requests_is_imported_only_by_the_wix_client():
    offenders = [
        f"{module.relative}:{line}"
        for module in app_modules()
        if not module.within(WIX_CLIENT)
        for line, name in imported_names(module)
        if in_package(name, "requests")
    ]
    assert offenders == []
    assert any(
        in_package(name, "requests")
        for module in app_modules()
        if module.within(WIX_CLIENT)
        for _, name in imported_names(module)
    ), "the Wix client no longer imports requests: update this test"


@pytest.mark.parametrize(("package", "forbidden"), FORBIDDEN_IMPORTS.items())
def test_dependencies_point_one_way(package, forbidden):
    offenders = []
    for module in app_modules():
        if not module.within(package):
            continue
        for line, name in imported_names(module):
            if package == WIX_CLIENT and in_package(name, WIX_CLIENT):
                continue  # the client's own modules
            if any(in_package(name, other) for other in forbidden):
                offenders.append(f"{module.relative}:{line} imports {name}")
    assert offenders == []


def _is_call_of(node: ast.AST, attribute: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attribute
    )


def test_no_model_is_reached_through_the_registry_outside_migrations():
    """Models are imported where they are used, so the import graph above tells the truth:
    no `apps.get_model(...)`, no `X._meta.get_field(...).related_model` to reach around it."""
    offenders = []
    for module in app_modules():
        if module.is_migration:
            continue
        for node in ast.walk(module.tree):
            if _is_call_of(node, "get_model"):
                target = node.func.value
                if (isinstance(target, ast.Name) and target.id == "apps") or (
                    isinstance(target, ast.Attribute) and target.attr == "apps"
                ):
                    offenders.append(f"{module.relative}:{node.lineno} apps.get_model(")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "related_model"
                and _is_call_of(node.value, "get_field")
                and isinstance(node.value.func.value, ast.Attribute)
                and node.value.func.value.attr == "_meta"
            ):
                offenders.append(
                    f"{module.relative}:{node.lineno} _meta.get_field(..).related_model"
                )
    assert offenders == []


def test_wix_json_field_names_stay_in_the_wix_client():
    """Everything above the client reads typed records, never Wix's JSON (`labelKeys`)."""
    offenders = [
        f"{module.relative}:{number}"
        for module in app_modules()
        if not module.within(WIX_CLIENT)
        for number, text in enumerate(module.source.splitlines(), 1)
        if "labelKeys" in text
    ]
    assert offenders == []
