"""Identity: accounts, device sessions, tokens and API keys."""
