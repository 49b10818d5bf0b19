"""The registry of SQL engines: which module runs the queries `settings.sql_engine` names.

The same plug-in pattern as the stores' (`trailhouse.store`): each engine module exposes
`open_engine(settings) -> Engine`, only this registry imports one, and it does so lazily, so the
embedded default never imports PySpark and a missing optional dependency names the extra to
install. A new engine is a module with `open_engine` and one line in `_ENGINES`.
"""

from __future__ import annotations

import enum
import importlib

from trailhouse.errors import SettingsError
from trailhouse.settings import Settings
from trailhouse.warehouse.sql.engine import Engine


class EngineKind(enum.Enum):
    """The SQL engines trailhouse ships."""

    DUCKDB = "duckdb"
    SPARK = "spark"


# engine → (module, the extra that installs its dependencies, what else it needs to run)
_ENGINES = {
    EngineKind.DUCKDB: ("trailhouse.warehouse.sql.duckdb_engine", None, ""),
    EngineKind.SPARK: ("trailhouse.warehouse.sql.spark", "spark", " (and Java 17 or newer)"),
}


def engine_kind(settings: Settings) -> EngineKind:
    """Which engine `settings.sql_engine` asks for; SettingsError naming the choices."""
    try:
        return EngineKind(settings.sql_engine)
    except ValueError:
        choices = " or ".join(kind.value for kind in EngineKind)
        raise SettingsError(f"sql_engine {settings.sql_engine!r}: use {choices}") from None


def open_engine(settings: Settings) -> Engine:
    """The SQL engine the settings choose; SettingsError naming the extra when it is missing."""
    kind = engine_kind(settings)
    module_name, extra, also_needs = _ENGINES[kind]
    try:
        engine: Engine = importlib.import_module(module_name).open_engine(settings)
    except ModuleNotFoundError as exc:
        if extra is None:
            raise
        raise SettingsError(
            f"sql_engine = {kind.value} needs an optional dependency ({exc.name}): "
            f"pip install 'trailhouse[{extra}]'{also_needs}"
        ) from exc
    return engine
