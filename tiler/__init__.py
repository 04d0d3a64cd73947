"""Dynamic tiles of items, collections and searches, read only from our stores."""

from .app import create_tiler_app
from .render import add_default_renders, default_renders
from .settings import TilerSettings

__all__ = ["TilerSettings", "add_default_renders", "create_tiler_app", "default_renders"]
