"""Validate job: topology and deviation checks of every watertight mesh of a shard."""

from __future__ import annotations

from functools import partial

from ..atomic import write_table
from ..geometry.grid import grid_spacing
from ..geometry.nearsurface import set_threads
from ..geometry.validate import deviation_reasons, surface_deviation, validate_mesh
from ..status import ok_objects, read_status
from .meshstore import read_mesh
from .objects import run_objects
from .provenance import object_rng
from .worker import Limits


def validate_one(object_id: str, watertight: str, normalized: str, settings: dict, threads: int) -> dict:
    """The validation record of one object (with ``failure`` when it does not pass). Runs in the job's worker."""
    set_threads(threads)
    seeding = {key: value for key, value in settings.items() if key != "code"}
    vertices, faces, watertight_record = read_mesh(watertight, object_id)
    record = validate_mesh(vertices, faces)
    topology_reasons = record.pop("reasons")
    if topology_reasons:  # deviation from the source is meaningless for a broken mesh
        record["failure"] = ("invalid_mesh", "; ".join(topology_reasons))
        return record
    source_vertices, source_faces, _ = read_mesh(normalized, object_id)
    rng = object_rng(object_id, seeding, settings["seed"])
    voxel = grid_spacing(watertight_record["resolution"])
    deviation = surface_deviation(vertices, faces, source_vertices, source_faces, voxel, settings["deviation_samples"],
                                  rng)
    record.update({f"deviation_{key}": value for key, value in deviation.items()})
    hausdorff = settings["max_hausdorff_voxels"]
    deviation_failures = deviation_reasons(
        deviation, settings["max_chamfer_voxels"], float("inf") if hausdorff is None else hausdorff
    )
    if deviation_failures:
        record["failure"] = ("deviation", "; ".join(deviation_failures))
    return record


def run(watertight: str, watertight_status: str, normalized: str, settings: dict, status: str, threads: int = 1,
        limits: Limits | None = None, journal: str | None = None) -> None:
    """Write one shard's validation table; failing objects keep their figures.

    Parameters
    ----------
    watertight, watertight_status : the watertight stage's mesh store and status table
    normalized : the normalised sources, to measure the deviation from
    settings : dict
        ``deviation_samples``, ``max_chamfer_voxels``, ``max_hausdorff_voxels``
        (None disables), ``seed`` (and ``code``). Deviations are in voxels of the
        grid each mesh was made on (its watertight record's ``resolution``).
    status : output parquet
    threads : the rule's threads, used by the distance kernels
    limits, journal : per-object limits and the running-object journal (:mod:`shapeprep.build.worker`)
    """
    process = partial(validate_one, watertight=watertight, normalized=normalized, settings=settings, threads=threads)
    table = run_objects(ok_objects(read_status(watertight_status)), process, "validate", None, limits, journal)
    write_table(table, status)
