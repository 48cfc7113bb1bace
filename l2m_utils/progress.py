"""Progress bars for long loops.  Introduced in chapter 3 (the jackknife over document groups).

Every long loop of the book, in the helpers and in the chapters, shows its progress through
:func:`progress_bar`: ``tqdm.auto`` (a widget in Jupyter when ``ipywidgets`` is installed, text
otherwise) without the warning that ``tqdm.auto`` prints on import when ``ipywidgets`` is missing,
which the book's environment deliberately leaves out (executed notebooks keep text bars).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any


def import_tqdm_auto() -> type:
    """``tqdm.auto.tqdm``, imported without the missing-ipywidgets warning.

    The warning comes once, from the first import of ``tqdm.auto`` in a process; ``import l2m_utils``
    calls this, so that libraries importing ``tqdm.auto`` later (``transformers``, ``huggingface_hub``)
    find it imported and stay quiet too.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        from tqdm.auto import tqdm
    return tqdm


def progress_bar(iterable: Iterable | None = None, **kwargs: Any) -> Any:
    """``tqdm.auto.tqdm(iterable, **kwargs)`` (see :func:`import_tqdm_auto`)."""
    return import_tqdm_auto()(iterable, **kwargs)
