"""`vecmigrate` and `python -m vecmigrate`. `main` loads the command line itself, so that a
Ctrl-C while it loads (typer, the commands) is the same one line and exit 130 as a Ctrl-C
later, not a KeyboardInterrupt traceback."""

import sys


def main() -> None:
    try:
        from .cli import app
        app(prog_name="vecmigrate")
    except KeyboardInterrupt:  # (later ones are caught per command, with what to do next)
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
