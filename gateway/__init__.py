"""credgate: a privacy-preserving data-exchange gateway for personal public-credit records."""

__version__ = "0.1.0"
