"""Access control: one model (principals, visibility, grants, share links) for every service.

Services attach :class:`AccessMiddleware` with their :class:`Policy` from outside; lists and
searches filter by ``request.state.readable``. See ``docs/access.md``.
"""

from .middleware import (
    Access,
    AccessMiddleware,
    Denied,
    Policy,
    RequestInfo,
    install_access,
    principal_of,
    readable_of,
    role_at_least,
)
from .model import ANONYMOUS, OPEN, Principal, ShareScope
from .policies import RoleGate, StacPolicy, require_collection
from .records import AccessRecords, InvalidCredentials
from .settings import AccessSettings

#: A collection id no collection can have: the filter for "nothing readable" (an empty list
#: would mean "no filter" to pgstac).
NO_COLLECTION = "__stacworks_none__"

__all__ = [
    "ANONYMOUS",
    "NO_COLLECTION",
    "OPEN",
    "Access",
    "AccessMiddleware",
    "AccessSettings",
    "AccessRecords",
    "Denied",
    "InvalidCredentials",
    "Policy",
    "Principal",
    "RequestInfo",
    "RoleGate",
    "ShareScope",
    "StacPolicy",
    "install_access",
    "principal_of",
    "readable_of",
    "require_collection",
    "role_at_least",
]
