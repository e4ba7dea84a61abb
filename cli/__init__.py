"""The ``btfmirror`` command line: parses options, calls one library function, renders results.

Installed as ``btfhub_mirror_cli`` (see pyproject.toml); imports inside are relative so the same
code runs from the source tree as ``cli``.
"""
