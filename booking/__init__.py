"""booking: a self-hosted booking system for a family's shared house."""

__version__ = "0.1.0"
