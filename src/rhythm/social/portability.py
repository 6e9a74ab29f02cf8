"""Social's records in an account's export (GET /users/me/export), out and back in (POST
/users/me/import): whom the user blocks, follows, is followed by, asks and is asked by. An import
recreates what the other accounts allow today: see `import_following` and `import_blocks`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rhythm.identity import service as identity_service
from rhythm.identity.principal import PRIVATE, PUBLIC
from rhythm.platform.redis import RedisClient
from rhythm.social import repository, service


async def _named(session: AsyncSession, rows: AsyncIterator[list[Any]]) -> AsyncIterator[list[Any]]:
    async for batch in rows:
        names = await identity_service.user_names(session, [row[0] for row in batch])
        # An account erased while the export runs is not in its snapshot's follows either.
        yield [(row[0], names[row[0]], row[1]) for row in batch if row[0] in names]


def exporter(
    side: repository.PairSide,
) -> Callable[[AsyncSession, uuid.UUID], AsyncIterator[list[Any]]]:
    """The export of one side of the user's pairs (whom they follow, who follows them, the
    requests they sent or received, whom they block), oldest first: the other account, its
    name and since when (FollowRecord's, FollowRequestRecord's and BlockRecord's fields)."""

    def export(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[Any]]:
        return _named(session, repository.pair_rows(session, user_id, side))

    return export


def holds(side: repository.PairSide) -> Callable[[AsyncSession, uuid.UUID], Awaitable[bool]]:
    """Whether the user has any pair on that side (an import into it is refused)."""

    async def held(session: AsyncSession, user_id: uuid.UUID) -> bool:
        return await repository.has_pairs(session, user_id, side)

    return held


async def import_following(
    session: AsyncSession,
    redis: RedisClient,
    user_id: uuid.UUID,
    pairs: Sequence[tuple[uuid.UUID, datetime]],
    *,
    ask_private: bool,
) -> int:
    """Follow again the accounts of exported follows or pending requests (other account,
    since when), as far as each allows it today: a public account is followed; a private one
    is asked again (a request, since that time) when `ask_private` (a request was pending),
    else skipped (its owner approved the exported account, not this one); an account that is
    gone, the user, or one a block stands between is skipped. How many follows and requests
    were made."""
    wanted = dict(pairs)
    wanted.pop(user_id, None)
    # Share-locked, as a follow does: a change of their visibility or a block waits.
    cards = await identity_service.locked_cards(session, list(wanted), share=True)
    hidden = set(await repository.hidden_from(session, user_id))
    kept = [(o, at) for o, at in wanted.items() if o in cards and o not in hidden]
    public = [(o, at) for o, at in kept if cards[o].visibility == PUBLIC]
    private = [(o, at) for o, at in kept if cards[o].visibility == PRIVATE and ask_private]
    followed = await repository.restore(session, "following", user_id, public)
    asked = await repository.restore(session, "requests-sent", user_id, private)
    if followed:
        await service.follows_changed(session, redis, [user_id])
    return len(followed) + len(asked)


async def import_blocks(
    session: AsyncSession,
    redis: RedisClient,
    user_id: uuid.UUID,
    pairs: Sequence[tuple[uuid.UUID, datetime]],
) -> int:
    """Block again the accounts of exported blocks (other account, since when) that still
    exist (not the user), as `block` does: the follows and requests between go. How many."""
    wanted = dict(pairs)
    wanted.pop(user_id, None)
    users = await identity_service.locked_cards(session, [user_id, *wanted], share=False)
    blocked = await repository.restore(
        session, "blocks", user_id, [(o, at) for o, at in wanted.items() if o in users]
    )
    if await repository.block_count(session, user_id) > service.MAX_BLOCKS:
        raise service.TooManyBlocks(f"An account may block at most {service.MAX_BLOCKS:,} users.")
    severed: list[uuid.UUID] = []
    for other in blocked:
        severed += await repository.sever(session, user_id, other)
    await service.follows_changed(session, redis, severed)
    if blocked:
        await service.blocks_changed(session, redis, user_id)
    return len(blocked)
