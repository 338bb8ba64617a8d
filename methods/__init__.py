"""Unlearning methods, one file each. Every module in this folder is imported, so a new file
registers itself: nothing else needs editing."""
import importlib
import pkgutil

for _m in pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")
