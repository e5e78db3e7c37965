"""The one exception type for user mistakes (a malformed sweep file, a bad option, a missing column).

The CLI prints it as one line on stderr and exits with code 2; nothing is written before it is raised.
"""
from __future__ import annotations


class ConfigError(ValueError):
    """A user mistake in a sweep file, data file or option: printed as one line, exit code 2."""
