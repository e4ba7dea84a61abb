"""btfmirror: mirror btfhub-archive selectively, minimize BTF per BPF object, pack it.

The library never prints and never imports typer or rich; the command line lives in ``cli/``.
"""

from __future__ import annotations

__version__ = "0.1.0"
