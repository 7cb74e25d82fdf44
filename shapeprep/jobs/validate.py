"""Validate job: topology and deviation checks of every watertight mesh of a shard."""

from __future__ import annotations

from ..atomic import write_table
from ..meshstore import read_mesh
from ..provenance import object_rng
from ..stage import ok_objects, read_status, run_objects
from ..validate import deviation_reasons, surface_deviation, validate_mesh
from ..watertight import grid_spacing


def run(watertight_store: str, watertight_status: str, normalized_store: str, status_table: str, params: dict) -> None:
    """Write one shard's validation table; failing objects keep their figures.

    Parameters
    ----------
    params : dict
        ``deviation_samples``, ``max_chamfer_voxels``, ``max_hausdorff_voxels``
        (None disables), ``seed``. Deviations are in voxels of the grid each
        mesh was made on (its watertight record's ``resolution``).
    """
    seeding = {key: value for key, value in params.items() if key != "code"}

    def process(object_id: str) -> dict:
        vertices, faces, watertight_record = read_mesh(watertight_store, object_id)
        record = validate_mesh(vertices, faces)
        topology_reasons = record.pop("reasons")
        if topology_reasons:  # deviation from the source is meaningless for a broken mesh
            record["failure"] = ("invalid_mesh", "; ".join(topology_reasons))
            return record
        source_vertices, source_faces, _ = read_mesh(normalized_store, object_id)
        rng = object_rng(object_id, seeding, params["seed"])
        voxel = grid_spacing(watertight_record["resolution"])
        deviation = surface_deviation(
            vertices, faces, source_vertices, source_faces, voxel, params["deviation_samples"], rng
        )
        record.update({f"deviation_{key}": value for key, value in deviation.items()})
        hausdorff = params["max_hausdorff_voxels"]
        deviation_failures = deviation_reasons(
            deviation, params["max_chamfer_voxels"], float("inf") if hausdorff is None else hausdorff
        )
        if deviation_failures:
            record["failure"] = ("deviation", "; ".join(deviation_failures))
        return record

    status = run_objects(ok_objects(read_status(watertight_status)), process, "validate")
    write_table(status, status_table)
