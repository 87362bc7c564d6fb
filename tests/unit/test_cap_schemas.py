"""The CAP schemas are OASIS's files, verbatim, loaded offline; the real samples validate."""

from __future__ import annotations

import hashlib
import re

import pytest

from crisis.feeds import cap_validation
from crisis.feeds.xml import parse_xml
from tests.testdata import read_sample, samples_dir

SCHEMAS = cap_validation.SCHEMA_DIR


def _readme_hashes() -> dict[str, str]:
    """file name -> sha256, from the table in cap_schemas/README.md."""
    text = (SCHEMAS / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (CAP-v1\.[12]\.xsd) \|.*\| `([0-9a-f]{64})` \|$", text, flags=re.MULTILINE)
    return dict(rows)


def test_every_schema_is_the_file_the_readme_names() -> None:
    """The README's sha256 is the one of the verbatim OASIS file; an edit shows here."""
    hashes = _readme_hashes()
    assert set(hashes) == {"CAP-v1.1.xsd", "CAP-v1.2.xsd"}
    for name, digest in hashes.items():
        assert hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("name", ["CAP-v1.1.xsd", "CAP-v1.2.xsd"])
def test_schemas_keep_the_oasis_notice_and_need_nothing_else(name: str) -> None:
    text = (SCHEMAS / name).read_text(encoding="utf-8")
    if name == "CAP-v1.2.xsd":  # OASIS's 1.1 file carries no notice of its own
        assert "<!-- Copyright OASIS Open 2010 All Rights Reserved -->" in text
    assert not re.search(r"<(xs:)?(import|include|redefine)\b", text)
    assert "schemaLocation" not in text


def test_schemas_load_with_every_outside_access_refused() -> None:
    cap_validation._schema.cache_clear()
    for namespace in cap_validation.SCHEMA_FILES:
        schema = cap_validation._schema(namespace)
        assert schema.target_namespace == namespace
        assert schema.allow == "none"


def test_every_real_sample_is_valid_cap() -> None:
    """The OASIS standard's own examples (tests/samples/cap) have no defect."""
    names = sorted(p.name for p in (samples_dir() / "cap").glob("*.xml"))
    assert names
    for name in names:
        root = parse_xml(read_sample("cap", name))
        namespace = str(root.tag)[1:].partition("}")[0]
        assert cap_validation.defects(root, namespace) == [], name


def test_a_missing_required_element_is_a_defect_in_both_versions() -> None:
    for namespace in cap_validation.SCHEMA_FILES:
        text = read_sample("cap", "example3.xml").decode("utf-8")
        text = text.replace("urn:oasis:names:tc:emergency:cap:1.2", namespace)
        text = re.sub(r"<scope>[^<]*</scope>", "", text)
        found = cap_validation.defects(parse_xml(text.encode("utf-8")), namespace)
        assert [d.missing for d in found] == ["scope"], namespace
