"""The ``arachne`` command line.

Commands ``run``, ``validate``, ``dot``, ``schema``, ``components``, ``new`` and ``demo``; the
entry point is :func:`arachne.cli.main.main`.
"""

from __future__ import annotations

__all__: list[str] = []
