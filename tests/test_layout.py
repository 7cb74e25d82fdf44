"""The package's layout: one-way imports, code hashes that follow the imports, and keyword wiring of jobs."""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest

from shapeprep.build import adapter
from shapeprep.build.provenance import package_root, stage_code_hash, stage_modules
from shapeprep.status import STAGE_NAMES

from .import_graph import cycles, import_graph, package_modules, upward_imports


def test_imports_run_one_way_without_circles():
    graph = import_graph()
    assert cycles(graph) == []
    assert upward_imports(graph) == []
    # Nothing outside build/ imports it.
    assert not [(m, t) for m, imports in graph.items() for t in imports
                if t.startswith("shapeprep.build") and not m.startswith("shapeprep.build")]


def test_every_stage_has_a_job_module_with_a_run_function():
    for stage in STAGE_NAMES:
        module = __import__(f"shapeprep.build.{stage}", fromlist=["run"])
        assert callable(module.run), stage


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("package") / "shapeprep"
    shutil.copytree(package_root(), root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_editing_a_module_reruns_exactly_the_stages_that_import_it(package_copy):
    """For every stage x every module: the code hash changes iff the stage imports the module (transitively)."""
    before = {stage: stage_code_hash(stage, package_copy) for stage in STAGE_NAMES}
    covered = {stage: set(stage_modules(stage, package_copy)) for stage in STAGE_NAMES}
    for module in package_modules(package_copy):
        parts = module.split(".")[1:]
        path = package_copy.joinpath(*parts).with_suffix(".py")
        if not path.exists():
            path = package_copy.joinpath(*parts, "__init__.py")
        original = path.read_bytes()
        path.write_bytes(original + b"\n# an edit\n")
        try:
            changed = {stage for stage in STAGE_NAMES if stage_code_hash(stage, package_copy) != before[stage]}
        finally:
            path.write_bytes(original)
        assert changed == {stage for stage in STAGE_NAMES if module in covered[stage]}, module
    # The gap the hand-kept list had: the watertight finish uses the topology helpers.
    assert "shapeprep.geometry.topology" in covered["watertight"]
    assert "shapeprep.watertight.engine" not in covered["validate"]


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_hash_covers_every_module_the_job_imports_when_it_runs(stage):
    """The ast closure holds at least what Python actually loads on importing the job."""
    code = (f"import sys, json, shapeprep.build.{stage}; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('shapeprep'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout)
    assert set(loaded) <= set(stage_modules(stage))


# ----------------------------------------------------------------------------- the adapter


def fake_job(rule="x", **sections):
    defaults = {"input": {}, "output": {}, "params": {}}
    defaults.update(sections)
    return SimpleNamespace(rule=rule, input=adapter.NamedValues(**defaults["input"]), output=adapter.NamedValues(**defaults["output"]),
                           params=adapter.NamedValues(**defaults["params"]), wildcards=adapter.NamedValues(shard="00003"),
                           log=["job.log"], config={"download": {}}, scriptdir="/repo/scripts")


def test_adapter_passes_names_and_only_the_context_a_job_asks_for():
    def run(meshes, settings, status, shard, log):
        return None

    job = fake_job(input={"shard_list": "l.tsv", "meshes": "m.h5"}, output={"status": "s.parquet"},
                   params={"settings": {"a": 1}})
    assert adapter.job_arguments(job, run) == {"meshes": "m.h5", "status": "s.parquet", "settings": {"a": 1},
                                               "shard": "00003", "log": "job.log"}

    def wants_list(shard_list, files):
        return None

    job = fake_job(input={"shard_list": "l.tsv", "files": ["a", "b"]})
    assert adapter.job_arguments(job, wants_list) == {"shard_list": "l.tsv", "files": ["a", "b"]}


def test_adapter_refuses_a_name_used_twice():
    job = fake_job(input={"status": "in.parquet"}, output={"status": "out.parquet"})
    with pytest.raises(TypeError, match="status"):
        adapter.job_arguments(job, lambda status: None)


def test_rule_names_match_the_run_signatures():
    """Every rule's inputs, outputs and params are names its run() takes (read from the rules by Snakemake)."""
    from .conftest import REPO

    listing = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    assert set(STAGE_NAMES) <= set(listing.split())
    for stage in STAGE_NAMES:
        run = __import__(f"shapeprep.build.{stage}", fromlist=["run"]).run
        parameters = inspect.signature(run).parameters
        required = {name for name, p in parameters.items()
                    if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD}
        declared = rule_names(REPO, stage)
        assert required - {"shard", "log", "config", "workflow_dir"} <= declared, stage
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            assert declared - set(adapter.DAG_INPUTS) <= set(parameters), stage


def rule_names(repo, rule):
    """Names of a rule's named inputs, outputs and params, read from the rules/*.smk source."""
    import re

    for path in (repo / "rules").glob("*.smk"):
        text = path.read_text()
        match = re.search(rf"^(?:rule|checkpoint) {rule}:\n(.*?)(?=^\S|\Z)", text, flags=re.S | re.M)
        if match:
            body = match.group(1)
            names = set()
            for section in ("input", "output", "params"):
                block = re.search(rf"^    {section}:\n((?:        .*\n|\n)*)", body, flags=re.M)
                if block:
                    names |= set(re.findall(r"^        (\w+)=", block.group(1), flags=re.M))
            return names
    raise AssertionError(f"no rule {rule}")


def test_job_by_hand_gets_schema_defaults_and_config_sections():
    job = adapter.snakemake_standin(["normalize", "--input", "downloads=d.parquet", "--output", "meshes=m.h5",
                                     "status=s.parquet", "--params", 'settings={"bound": 0.9}', "curate=@"])
    from shapeprep.build.normalize import run

    arguments = adapter.job_arguments(job, run)
    assert arguments["settings"] == {"bound": 0.9} and arguments["downloads"] == "d.parquet"
    assert arguments["curate"]["planar_tolerance"] == 0.002  # the schema's default, filled in by validation
    assert set(arguments) == set(inspect.signature(run).parameters)


def schema_leaves(schema: dict, root: dict, path: str = ""):
    """``(dotted path, property schema)`` of every leaf property (``$ref`` followed)."""
    if "$ref" in schema:
        schema = {**root["$defs"][schema["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in schema.items() if k != "$ref"}}
    properties = schema.get("properties")
    if not properties or schema.get("type") == "array":
        yield path, schema
        return
    for name, child in properties.items():
        yield from schema_leaves(child, root, f"{path}.{name}" if path else name)


def test_schema_holds_every_default_and_the_example_config_agrees():
    """Every setting has its default in the schema (only a source entry's own keys are required), and the
    example config, where it writes a value out, gives that default (it shows them; it does not change them)."""
    import yaml

    from .conftest import REPO, validated_config

    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    missing = [path for path, leaf in schema_leaves(schema, schema) if "default" not in leaf]
    assert missing == [], missing
    defaults = validated_config({})
    example = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for section in ("normalize", "watertight", "validate", "sample", "shard", "report", "download", "curate"):
        for key, value in (example.get(section) or {}).items():
            assert defaults[section][key] == value, f"{section}.{key}: config {value!r}, schema {defaults[section][key]!r}"
    for rule, values in example["resources"].items():
        for key, value in values.items():
            assert defaults["resources"][rule][key] == value, f"resources.{rule}.{key}"
