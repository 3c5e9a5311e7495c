"""The `vecmigrate` command line: `app` parses and calls one function of `commands` per verb;
`output` prints (results on stdout, errors, notes, logs and progress on stderr)."""

from .app import app

__all__ = ["app"]
