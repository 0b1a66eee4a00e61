"""`python -m tessera.cli …`: the same as the `tessera` command."""

from tessera.cli import main

raise SystemExit(main())
