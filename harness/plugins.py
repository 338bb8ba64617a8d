"""Plug-ins of one kind, one module each in a package folder, registered by a class decorator and
discovered automatically: adding one edits no other file. Task families (harness/families/) and attacks
(harness/attacks/) are registries of this kind; an unknown name fails with a did-you-mean."""
from __future__ import annotations

import importlib
import pkgutil

from harness.config import ConfigError
from harness.schema import did_you_mean


class Registry:
    def __init__(self, package: str, kind: str, label: str, entry: str = ""):
        self.package = package   # the folder's package, e.g. "harness.families"
        self.entry = entry       # a plug-in that is a package (a family) registers in this module of it
        self.kind = kind         # in "unknown <kind> 'x'" messages, e.g. "task family"
        self.label = label       # in "<label> 'x' registered twice", e.g. "track"
        self.items: dict[str, object] = {}
        self._loaded = False

    def register(self, name: str):
        """Class decorator: register one instance of the class under `name`."""
        def wrap(cls):
            if name in self.items:
                raise ValueError(f"{self.label} '{name}' registered twice")
            obj = cls()
            obj.name = name
            self.items[name] = obj
            return cls
        return wrap

    def load(self) -> dict[str, object]:
        """Import every module of the folder (each registers itself), once per process: every run asks
        for its plug-in, and the folder need not be listed each time. Modules named _* are helpers; a
        sub-package is imported through its `entry` module (a family's track.py)."""
        if not self._loaded:
            for mod in pkgutil.iter_modules(importlib.import_module(self.package).__path__):
                if not mod.name.startswith("_"):
                    sub = f".{self.entry}" if mod.ispkg and self.entry else ""
                    importlib.import_module(f"{self.package}.{mod.name}{sub}")
            self._loaded = True  # only once every module imported (a failed import is retried)
        return self.items

    def get(self, name: str):
        items = self.load()
        if name not in items:
            raise ConfigError(f"unknown {self.kind} '{name}'{did_you_mean(name, sorted(items))} "
                              f"(available: {', '.join(sorted(items))})")
        return items[name]
