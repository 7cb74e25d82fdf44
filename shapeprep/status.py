"""What happens to an object, and the stages it happens in.

The one list of the build's stages (:data:`STAGES`), the per-object
statuses, and the exceptions that refuse an object. A :class:`MeshError` is
a refusal with a short machine-readable ``reason`` (used to group failures
in the status table and the report) and a human message. Anything else
raised while processing an object is recorded as reason ``internal_error``
by :func:`shapeprep.build.objects.run_objects`.

Imported by the Snakefile at parse time: standard library only at import.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One rule of the build.

    Attributes
    ----------
    name : str
        Rule name, and the name of its module in :mod:`shapeprep.build`.
    per_shard : bool
        One job per shard (else one job for the whole build).
    decides_status : bool
        Writes a per-object status table that can fail or filter an object.
    grows_with_resolution : bool
        Work per object grows with ``watertight.resolution``.
    """

    name: str
    per_shard: bool
    decides_status: bool = False
    grows_with_resolution: bool = False


#: Every stage of the build, in pipeline order.
STAGES = (
    Stage("manifest", per_shard=False),
    Stage("download", per_shard=True, decides_status=True),
    Stage("normalize", per_shard=True, decides_status=True),
    Stage("watertight", per_shard=True, decides_status=True, grows_with_resolution=True),
    Stage("validate", per_shard=True, decides_status=True, grows_with_resolution=True),
    Stage("sample", per_shard=True, decides_status=True, grows_with_resolution=True),
    Stage("shard", per_shard=True),
    Stage("normal_maps", per_shard=True),
    Stage("sparse_sdf", per_shard=True),
    Stage("render", per_shard=True),
    Stage("index", per_shard=False),
    Stage("report", per_shard=False),
)

#: Stage names in pipeline order.
STAGE_NAMES = tuple(stage.name for stage in STAGES)

#: Stages with a per-object status table, in order: an object's final status
#: comes from the first of them that did not pass it.
OBJECT_STAGES = tuple(stage.name for stage in STAGES if stage.decides_status)

#: Stages whose work per object grows with the watertight resolution.
RESOLUTION_STAGES = tuple(stage.name for stage in STAGES if stage.grows_with_resolution)

#: Final statuses of an object.
STATUSES = ("ok", "failed", "filtered")

#: First columns of every per-shard status table: who, what happened, and what it cost
#: (wall seconds and the process's peak resident memory while the object ran).
STATUS_COLUMNS = ["object_id", "status", "reason", "message", "seconds", "peak_rss_mb"]


class MeshError(Exception):
    """An object that cannot go further, with a recorded reason.

    Parameters
    ----------
    reason : str
        Short snake_case code, e.g. ``"compressed_gltf"``, ``"no_faces"``.
    message : str
        What a person needs to know to fix or understand the input.
    """

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class Filtered(MeshError):
    """An object a curation filter left out on purpose (status ``filtered``, not ``failed``)."""


def read_status(path):
    """Read a stage's status table (a DataFrame with :data:`STATUS_COLUMNS` first)."""
    import pandas as pd

    return pd.read_parquet(path)


def ok_objects(status) -> list[str]:
    """Ids of the objects a stage finished successfully, in table order."""
    return status.loc[status["status"] == "ok", "object_id"].tolist()
