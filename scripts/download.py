"""Snakemake adapter: download one shard's objects (resumable). Run by hand with --input/--output/--params KEY=VALUE (see shapeprep.scripting).

Speed settings (processes, batch size, backoff, timeouts, mirrors) are read
from the config here rather than passed as params, so tuning them never reruns
a finished download and everything after it.
"""

from shapeprep.jobs import download
from shapeprep.provenance import DOWNLOAD_SPEED_KEYS
from shapeprep.scripting import snakemake_standin
from shapeprep.stage import job_logging


def main(smk):
    settings = smk.config.get("download", {})
    tuning = {key: settings[key] for key in DOWNLOAD_SPEED_KEYS if key in settings}
    with job_logging(smk.log[0]):
        download.run(smk.input.shard_list, smk.output.status, smk.params.journal, smk.params.download, tuning,
                     smk.log[0])


if __name__ == "__main__":
    main(snakemake if "snakemake" in globals() else snakemake_standin())  # noqa: F821
