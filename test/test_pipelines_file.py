"""bitbucket-pipelines.yml: only keys Atlassian's schema knows, and nothing but Bitbucket Cloud.

.ci/run validates the file with check-jsonschema's vendored copy of Atlassian's schema, which
catches wrong values and types (`version: 3` for `version: "3"`) but not a misspelt key: the
schema allows unknown keys in a step. So the step keys are checked here against the same copy.
"""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from typing import Any

import pytest
import yaml

from conftest import ROOT

PIPELINES = ROOT / "bitbucket-pipelines.yml"


@functools.cache
def schema_definitions() -> dict[str, Any]:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema (requirements-dev.txt)")
    vendored = files("check_jsonschema") / "builtin_schemas/vendor/bitbucket-pipelines.json"
    return json.loads(vendored.read_text(encoding="utf-8"))["definitions"]


def known(definition: str) -> set[str]:
    """The property names a schema definition allows, through its allOf parts."""
    spec = schema_definitions()[definition]
    names = set(spec.get("properties", {}))
    for part in spec.get("allOf", []):
        ref = part.get("$ref")
        names |= known(ref.rsplit("/", 1)[1]) if ref else set(part.get("properties", {}))
    return names


def unknown_keys(config: dict[str, Any]) -> list[str]:
    """Keys the schema does not name: at the top, in each step, and in each step's runtime."""
    unknown = [f"top: {key}" for key in set(config) - known("pipelines_configuration")]
    step_keys = known("step")
    for entry in config.get("definitions", {}).get("steps", []):
        step = entry["step"]
        name = step.get("name", "?")
        unknown += [f"{name}: {key}" for key in set(step) - step_keys]
        runtime = step.get("runtime", {})
        unknown += [f"{name}: runtime.{key}" for key in set(runtime) - known("runtime")]
        cloud = runtime.get("cloud", {})
        unknown += [f"{name}: runtime.cloud.{key}" for key in set(cloud) - known("cloud")]
    return sorted(unknown)


def config() -> dict[str, Any]:
    return yaml.safe_load(PIPELINES.read_text(encoding="utf-8"))


def test_every_key_of_the_pipelines_file_is_one_the_schema_names():
    assert unknown_keys(config()) == []


@pytest.mark.parametrize(
    ("where", "typo"),
    [("step", "max-tme"), ("runtime", "clod"), ("cloud", "versoin"), ("top", "pipelnes")],
)
def test_a_misspelt_key_is_caught(where, typo):
    broken = config()
    step = next(s["step"] for s in broken["definitions"]["steps"] if "runtime" in s["step"])
    target = {
        "step": step,
        "runtime": step["runtime"],
        "cloud": step["runtime"]["cloud"],
        "top": broken,
    }[where]
    target[typo] = "x"
    assert any(problem.endswith(typo) for problem in unknown_keys(broken))


def test_nothing_waits_for_a_self_hosted_runner():
    text = PIPELINES.read_text(encoding="utf-8")
    assert "runs-on" not in text
    assert "self.hosted" not in text


def test_every_docker_step_runs_on_runtime_v3_in_a_pinned_image():
    steps = [entry["step"] for entry in config()["definitions"]["steps"]]
    docker_steps = [step for step in steps if "docker" in step.get("services", [])]
    assert docker_steps, "no step uses Docker"
    for step in docker_steps:
        assert step["runtime"] == {"cloud": {"version": "3"}}, step["name"]
        assert step["image"].count(":") == 1, step["name"]
        assert not step["image"].endswith(":latest"), step["name"]


def test_every_step_image_names_a_tag_that_is_not_latest():
    images = [config()["image"]]
    images += [e["step"]["image"] for e in config()["definitions"]["steps"] if "image" in e["step"]]
    for image in images:
        assert ":" in image, image
        assert "latest" not in image.split(":", 1)[1], image
