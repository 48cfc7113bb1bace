"""Helpers for the L²M notebook book (see the book chapter that introduces each module)."""
__version__ = "0.1.0"
