"""The warehouse's services, wired together over one metadata store and one folder."""

from __future__ import annotations

from dataclasses import dataclass

from trailhouse.iam.roles import RoleService
from trailhouse.metrics import Counters
from trailhouse.settings import Settings
from trailhouse.store.ports import MetadataStore
from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.compaction import Compactor
from trailhouse.warehouse.encoder import FileEncoder
from trailhouse.warehouse.job_writes import JobWriter
from trailhouse.warehouse.jobs import SqlJobService
from trailhouse.warehouse.metering import Metering
from trailhouse.warehouse.quotas import QuotaService
from trailhouse.warehouse.reads import TableReads
from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine
from trailhouse.warehouse.sql.engine import Engine
from trailhouse.warehouse.sql.engines import open_engine
from trailhouse.warehouse.sql.planner import Planner
from trailhouse.warehouse.uploads import TableUploads
from trailhouse.warehouse.writer import TableWriter


@dataclass(frozen=True, slots=True)
class Warehouse:
    """Projects and tables (catalog), quotas, the exactly-once writer and its compaction, SQL
    jobs, metering, and reads of tables' rows outside SQL and uploads into users' tables (the
    tunnel)."""

    catalog: Catalog
    quotas: QuotaService
    writer: TableWriter
    planner: Planner
    jobs: SqlJobService
    metering: Metering
    compactor: Compactor
    reads: TableReads
    uploads: TableUploads
    # Planning's engine: folds constants and binds queries (its idle connections).
    constants: DuckDbEngine | None = None

    def close(self) -> None:
        """Cancel running SQL jobs, release the engines and stop the file encoder's helper."""
        self.jobs.close()
        self.writer.close()
        if self.constants is not None:
            self.constants.close()


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
    job_writer = JobWriter(root, metadata, catalog)
    jobs = SqlJobService(
        settings,
        metadata,
        catalog,
        quotas,
        planner,
        engine or open_engine(settings),
        validate=constants.validate,
        counters=counters or Counters(),
        job_writer=job_writer,
    )
    encoder = FileEncoder(
        settings.delivery_encode_process_events, settings.delivery_encode_niceness
    )
    writer = TableWriter(root, metadata, catalog, roles, encoder=encoder)
    return Warehouse(
        catalog=catalog,
        quotas=quotas,
        writer=writer,
        planner=planner,
        jobs=jobs,
        metering=Metering(settings, metadata, catalog, quotas, jobs),
        compactor=Compactor(settings, metadata, catalog, writer),
        reads=TableReads(metadata, catalog, root),
        uploads=TableUploads(metadata, catalog, job_writer, root),
        constants=constants,
    )
