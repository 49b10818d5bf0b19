"""`python -m trailhouse` runs the trailhouse command."""

from __future__ import annotations

from trailhouse.cli import main

raise SystemExit(main())
