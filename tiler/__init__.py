"""Dynamic tiles of items, collections and searches, read only from our stores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_tiler_app
    from .render import add_default_renders, default_renders
    from .settings import TilerSettings

__all__ = ["TilerSettings", "add_default_renders", "create_tiler_app", "default_renders"]

_HOME = {"create_tiler_app": "app", "add_default_renders": "render", "default_renders": "render",
         "TilerSettings": "settings"}


def __getattr__(name: str) -> Any:
    """Imported on first use: the app pulls in all of titiler, which the CLI's preset
    commands (``tiler.presets``, ``tiler.render``) do not need."""
    if name not in _HOME:
        raise AttributeError(name)
    from importlib import import_module

    return getattr(import_module(f".{_HOME[name]}", __name__), name)
