"""Expected per-object failures.

A :class:`MeshError` is a refusal with a short machine-readable ``reason``
(used to group failures in the status table and the report) and a human
message. Anything else raised while processing an object is recorded as
reason ``internal_error`` by :func:`shapeprep.stage.run_objects`.
"""


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
