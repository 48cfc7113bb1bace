"""Helpers for the L²M notebook book (see the book chapter that introduces each module)."""
from .progress import import_tqdm_auto as _import_tqdm_auto

__version__ = "0.1.0"
_import_tqdm_auto()  # quietly, once: later importers of tqdm.auto (transformers) then print no ipywidgets warning
