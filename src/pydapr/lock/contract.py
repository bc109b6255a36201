"""What a lock store offers: try to take a lock for an owner with an expiry, release it as that owner."""

from __future__ import annotations

import enum

from pydapr.components.base import Component


class UnlockStatus(enum.IntEnum):
    """Dapr's unlock outcomes; the numbers are the wire values (UnlockResponse.Status)."""

    SUCCESS = 0
    LOCK_DOES_NOT_EXIST = 1
    LOCK_BELONGS_TO_OTHERS = 2
    INTERNAL_ERROR = 3


class LockStore(Component):
    """Base of all lock stores. A lock is held by one owner until it is unlocked or expires."""

    async def try_lock(self, resource_id: str, owner: str, expiry_seconds: int) -> bool:
        """Take the lock if nobody holds it (or the holder's lease expired); never waits."""
        raise NotImplementedError

    async def unlock(self, resource_id: str, owner: str) -> UnlockStatus:
        """Release the lock, only if ``owner`` holds it; atomic against concurrent lockers."""
        raise NotImplementedError
