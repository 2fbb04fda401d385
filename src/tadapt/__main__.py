"""``python -m tadapt`` runs the command-line interface."""

from tadapt.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
