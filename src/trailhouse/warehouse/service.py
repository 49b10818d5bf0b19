"""The warehouse's services, wired together over one metadata store and one folder."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from trailhouse.errors import SettingsError
from trailhouse.iam.roles import RoleService
from trailhouse.metrics import Counters
from trailhouse.settings import Settings
from trailhouse.store.ports import MetadataStore
from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.compaction import Compactor
from trailhouse.warehouse.jobs import SqlJobService
from trailhouse.warehouse.metering import Metering
from trailhouse.warehouse.quotas import QuotaService
from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine
from trailhouse.warehouse.sql.engine import Engine
from trailhouse.warehouse.sql.planner import Planner
from trailhouse.warehouse.writer import TableWriter


@dataclass(frozen=True, slots=True)
class Warehouse:
    """Projects and tables (catalog), quotas, the exactly-once writer and its compaction, SQL
    jobs and metering."""

    catalog: Catalog
    quotas: QuotaService
    writer: TableWriter
    planner: Planner
    jobs: SqlJobService
    metering: Metering
    compactor: Compactor

    def close(self) -> None:
        """Cancel running SQL jobs and release the engine."""
        self.jobs.close()


def open_engine(settings: Settings) -> Engine:
    """The SQL engine the settings choose; SettingsError naming the extra when it is missing."""
    if settings.sql_engine == "duckdb":
        return DuckDbEngine(settings.data_dir / "sql-spill")
    if settings.sql_engine == "spark":
        try:
            importlib.import_module("pyspark")  # the engine imports it lazily; fail here
            from trailhouse.warehouse.sql.spark import SparkEngine
        except ImportError as exc:
            raise SettingsError(
                "sql_engine = spark needs PySpark: pip install 'trailhouse[spark]' "
                f"(and Java 17 or newer); {exc}"
            ) from exc
        spark: Engine = SparkEngine(settings.spark_master, settings.data_dir / "spark")
        return spark
    raise SettingsError(f"sql_engine {settings.sql_engine!r}: use duckdb or spark")


def open_warehouse(
    settings: Settings,
    metadata: MetadataStore,
    roles: RoleService,
    served_regions: tuple[str, ...],
    engine: Engine | None = None,
    counters: Counters | None = None,
) -> Warehouse:
    """Build the warehouse over the metadata store and `settings.warehouse_path`."""
    root = settings.warehouse_path
    quotas = QuotaService(metadata, settings, served_regions)
    catalog = Catalog(metadata, quotas)
    constants = DuckDbEngine(settings.data_dir / "sql-spill")
    planner = Planner(catalog, root, constants.evaluate_constant)
    jobs = SqlJobService(
        settings,
        metadata,
        catalog,
        quotas,
        planner,
        engine or open_engine(settings),
        validate=constants.validate,
        counters=counters or Counters(),
    )
    writer = TableWriter(root, metadata, catalog, roles)
    return Warehouse(
        catalog=catalog,
        quotas=quotas,
        writer=writer,
        planner=planner,
        jobs=jobs,
        metering=Metering(settings, metadata, catalog, quotas, jobs),
        compactor=Compactor(settings, metadata, catalog, writer),
    )
