"""Social: who follows whom."""
