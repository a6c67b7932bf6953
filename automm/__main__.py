"""`python -m automm`: the command line."""
from .cli import main

raise SystemExit(main())
