"""One source of truth: the schema in pipe/pipe.py. The README and pipe.yml must agree with it."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest
import yaml

from conftest import ROOT
from pipe import schema

README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_section(title: str) -> str:
    match = re.search(rf"^## {title}\n(.*?)(?=^## )", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def variables_table() -> dict[str, str]:
    """README's Variables table: name -> its Usage text."""
    rows = re.findall(r"^\| ([A-Z0-9_]+)( \(\*\))? \| (.*) \|$", readme_section("Variables"), re.M)
    return {name: usage for name, _, usage in rows}


def yaml_definition() -> dict:
    block = re.search(r"```yaml\n(.*?)```", readme_section("YAML Definition"), re.S)
    assert block
    uncommented = re.sub(r"^(\s*)# ([A-Z0-9_]+:)", r"\1\2", block.group(1), flags=re.M)
    return yaml.safe_load(uncommented)[0]


def default_text(rules: dict) -> str | None:
    """How the README states a variable's default, derived from its schema rules."""
    words = rules.get("meta", {}).get("default")
    if words:
        return words
    default = rules.get("default")
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`" if default not in (None, []) else None


def test_the_variables_table_lists_exactly_the_schema():
    assert list(variables_table()) == list(schema)


@pytest.mark.parametrize("name", list(schema))
def test_the_variables_table_states_each_default_as_the_schema_does(name):
    usage = variables_table()[name]
    expected = default_text(schema[name])
    if expected:
        assert f"Default: {expected}" in usage
    else:
        assert "Default:" not in usage


def test_only_the_api_key_is_marked_required():
    table = readme_section("Variables")
    assert re.findall(r"^\| ([A-Z0-9_]+) \(\*\)", table, re.M) == ["ALERT24_API_KEY"]


def test_the_yaml_definition_names_every_variable_of_the_schema():
    variables = yaml_definition()["variables"]
    assert list(variables) == list(schema)


def test_every_example_uses_the_published_pipe_and_known_variables():
    examples = re.findall(r"```yaml\n(.*?)```", README, re.S)
    pipes = [step for block in examples for step in re.findall(r"pipe: (\S+)", block)]
    assert set(pipes) == {"alert24/track-deployment:1.0"}
    passed_through = {"HTTPS_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE"}
    named = set(re.findall(r"^\s+#? ?([A-Z][A-Z0-9_]+):", "\n".join(examples), re.M))
    assert named <= set(schema) | passed_through


def test_pipe_yml_lists_the_schema_variables_with_their_defaults():
    metadata = yaml.safe_load((ROOT / "pipe.yml").read_text(encoding="utf-8"))
    listed = {entry["name"]: entry for entry in metadata["variables"]}
    assert list(listed) == list(schema)
    for name, rules in schema.items():
        default = rules.get("default")
        if default in (None, []):
            assert "default" not in listed[name], name
        else:
            text = str(default).lower() if isinstance(default, bool) else str(default)
            assert listed[name]["default"] == text, name
    assert [name for name, entry in listed.items() if entry.get("required")] == ["ALERT24_API_KEY"]


def test_pipe_yml_names_the_square_icon_kept_in_this_repository():
    metadata = yaml.safe_load((ROOT / "pipe.yml").read_text(encoding="utf-8"))
    prefix = f"{metadata['repository']}/raw/main/"
    assert metadata["icon"].startswith(prefix)
    icon = ROOT / metadata["icon"].removeprefix(prefix)
    svg = ElementTree.parse(icon).getroot()  # noqa: S314 (our own file)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.get("width") == svg.get("height")
    _, _, width, height = svg.get("viewBox", "").split()
    assert width == height


# The README is read on Bitbucket's pipe page: short, with the detail a link away in docs/. -----

README_MOST = 14_000  # characters; published pipes' READMEs are about 4,000
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(text: str) -> list[str]:
    """The targets of the Markdown links that point into this repository (no scheme, no bare
    anchor), without their anchors."""
    targets = (target for target in LINK.findall(text) if not re.match(r"[a-z]+:|#", target))
    return [target.split("#")[0] for target in targets]


def test_the_readme_is_at_most_14000_characters():
    assert len(README) <= README_MOST, f"README.md is {len(README):,} characters"


def test_every_relative_link_in_the_readme_points_to_a_file_that_exists():
    links = relative_links(README)
    assert links, "the README links to no file of the repository: the test reads no links"
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, missing


@pytest.mark.parametrize("page", sorted((ROOT / "docs").glob("*.md")), ids=lambda path: path.name)
def test_every_relative_link_in_docs_points_to_a_file_that_exists(page):
    links = relative_links(page.read_text(encoding="utf-8"))
    missing = [link for link in links if not (page.parent / link).resolve().is_file()]
    assert not missing, missing


def test_the_readmes_sections_come_in_order_prerequisites_before_details():
    titles = re.findall(r"^## (.+)$", README, re.M)
    assert titles == [
        "Run it locally",
        "YAML Definition",
        "Variables",
        "Prerequisites",
        "Details",
        "Examples",
        "Support",
        "License",
    ]
