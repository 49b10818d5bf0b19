"""One local Spark session for the whole test run: starting one takes seconds, so it is shared."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from system_packages import require_java
from trailhouse.warehouse.sql.spark import SparkEngine

# Small and quick: two shuffle partitions and a small heap (the engine already turns off the UI
# and the event log, and binds a local master to 127.0.0.1).
SPARK_TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "768m",
}


@pytest.fixture(scope="session")
def spark_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkEngine]:
    """A SparkEngine on `local[2]`, its session started once and stopped at the end."""
    require_java()
    engine = SparkEngine("local[2]", tmp_path_factory.mktemp("spark"), conf=SPARK_TEST_CONF)
    engine.session()
    yield engine
    engine.close()
