"""Deleting a warehouse project, which trails may be delivering into.

It sits in delivery because it asks both sides: the trails (is any enabled trail still
delivering into the project?) and the warehouse catalog (the project, its tables and files).
The project's metadata goes in one commit that also requires every trail aimed at the project
to be unchanged, so a trail started meanwhile makes the deletion decide again. Its folder is
then moved aside in one rename and removed: a crash in between leaves only unlisted files under
`<warehouse>/<region>/_deleted/`, which no reader sees.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from trailhouse.errors import InvalidParameter
from trailhouse.iam.arns import parse_project_arn
from trailhouse.iam.principals import Caller
from trailhouse.store.ports import DocumentWrite
from trailhouse.trails.model import Trail
from trailhouse.trails.service import TrailService
from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.model import Project

# Project names start with a letter, so this folder is never a project's.
DELETED_FOLDER = "_deleted"


def delivers_into(trail: Trail, project: Project) -> bool:
    """True when the trail's MaxCompute destination is this project."""
    ref = parse_project_arn(trail.destinations.max_compute_project_arn, "odps")
    return ref is not None and ref.region == project.region and ref.name.lower() == project.name


class ProjectDeletion:
    """DeleteProject: the owner's root key deletes a project no enabled trail delivers into."""

    def __init__(
        self,
        trails: TrailService,
        catalog: Catalog,
        warehouse_root: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._trails = trails
        self._catalog = catalog
        self._root = warehouse_root
        self._clock = clock

    def delete(self, caller: Caller, region: str, name: str) -> Project:
        """Delete the project's metadata in one commit, then its files; return what it was."""
        project = self._catalog.delete_project(caller, region, name, self._guard)
        folder = self._root / region / project.name
        if folder.exists():
            aside = self._root / region / DELETED_FOLDER / f"{project.name}.{int(self._clock())}"
            aside.parent.mkdir(parents=True, exist_ok=True)
            folder.rename(aside)
            shutil.rmtree(aside, ignore_errors=True)
        return project

    def _guard(self, project: Project) -> list[DocumentWrite]:
        """Refuse while an enabled trail delivers into the project, naming each; else checks
        that keep every trail aimed at it as it was read."""
        aimed = self._trails.fenced(lambda trail: delivers_into(trail, project))
        enabled = [trail for trail, _ in aimed if trail.is_logging]
        if enabled:
            named = ", ".join(f"{t.name} (account {t.account_id})" for t in enabled)
            raise InvalidParameter(
                f"project {project.name} ({project.region}) cannot be deleted while enabled "
                f"trails deliver into it: {named}; stop their logging (StopLogging) or change "
                "their MaxComputeProjectArn first"
            )
        return [check for _, check in aimed]
