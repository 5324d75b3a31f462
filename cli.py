"""Run the command line from a checkout: ``python cli.py ...`` is ``xander ...``.

The command line lives in ``xander/cli.py``; this shim remains for scripts and tests that run
the file by path (``python -m xander.cli`` does the same).
"""

from xander.cli import main

if __name__ == "__main__":
    main()
