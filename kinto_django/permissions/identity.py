"""Who is calling, as the permissions see it: a user id and every principal it holds."""

from __future__ import annotations

from dataclasses import dataclass, field

EVERYONE = "system.Everyone"
AUTHENTICATED = "system.Authenticated"


@dataclass(frozen=True)
class Identity:
    """The caller: its user id (None when anonymous) and every principal it holds."""

    user_id: str | None
    principals: tuple[str, ...] = field(default=(EVERYONE,))

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None


ANONYMOUS = Identity(None, (EVERYONE,))
# The server acting by itself, for an operator (management commands, site-user cleanups).
OPERATOR = Identity("system.operator", ("system.operator",))

# Longest principal stored: every group URI fits (`/buckets/{128}/groups/{128}`).
MAX_PRINCIPAL_LENGTH = 300
