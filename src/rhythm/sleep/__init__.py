"""Sleep: clock in and out, backfilled nights, the followings feed and weekly rankings."""
