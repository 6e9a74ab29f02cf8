"""An account's data out and back in: GET /users/me/export (JSON Lines, or a ZIP of CSVs) and
POST /users/me/import, and `rhythm users export|import`. Each context gives its own kinds of
records (their rows out, their rules in) through its service; kinds.py lists them."""
