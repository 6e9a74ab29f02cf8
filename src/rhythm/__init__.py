"""rhythm: a personal time-tracking backend with a social layer."""

__version__ = "0.1.0"
