"""PII scrubbing gives daprd's results (cases from dapr/dapr's conversation integration tests, and
one per entity the default scrubber knows)."""

from __future__ import annotations

import pytest

from pydapr.conversation.pii import scrub


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        # dapr/dapr tests/integration/suite/daprd/conversation/*/scrubpii.go
        (
            "well hello there, my phone number is +2222222222",
            "well hello there, my phone number is <PHONE_NUMBER>",
        ),
        (
            "well hello there, my phone number is +4422222222",
            "well hello there, my phone number is <PHONE_NUMBER>",
        ),
        ("well hello there, my email is test@test.com", "well hello there, my email is <EMAIL_ADDRESS>"),
        ("well hello there from 10.8.9.1", "well hello there from <IP>"),
        (
            "well hello there from 10.8.9.1\nwell hello there, my email is test@test.com",
            "well hello there from <IP>\nwell hello there, my email is <EMAIL_ADDRESS>",
        ),
        ("well hello there", "well hello there"),
        # one per entity
        ("pay with 4111 1111 1111 1111 now", "pay with <CREDIT_CARD> now"),
        ("pay with 4111-1111-1111-1111", "pay with <CREDIT_CARD>"),
        ("my ssn is 123-45-6789.", "my ssn is <US_SSN>."),
        ("call (415) 555-1234 ext 12", "call <PHONE_NUMBER>"),
        ("nic 00:1A:2B:3C:4D:5E here", "nic <MAC_ADDRESS> here"),
        ("I live at 123 Main Street today", "I live at <STREET_ADDRESS>today"),
        ("zip 94107 ok", "zip <ZIP_CODE> ok"),
        ("write to PO Box 1234", "write to <PO_BOX>"),
        ("iban DE89370400440532013000", "iban <IBAN>"),
        ("book 978-3-16-148410-0", "book <ISBN>"),
        ("Ünïcödé text, mail jö@x.de or joe@x.de", "Ünïcödé text, mail jö@x.de or <EMAIL_ADDRESS>"),
    ],
)
def test_scrub_replaces_pii_with_daprs_placeholders(text: str, scrubbed: str) -> None:
    assert scrub(text) == scrubbed


def test_urls_and_repositories_are_not_pii() -> None:
    text = "see https://example.com/a/b and git@github.com:dapr/dapr.git, mail me at a@b.io"
    assert (
        scrub(text)
        == "see https://example.com/a/b and git@github.com:dapr/dapr.git, mail me at <EMAIL_ADDRESS>"
    )


def test_several_entities_in_one_text() -> None:
    got = scrub("mail test@test.com or call +2222222222 from 192.168.1.20")
    assert got == "mail <EMAIL_ADDRESS> or call <PHONE_NUMBER> from <IP>"


def test_identical_matches_resolve_to_the_later_entity_as_under_daprd() -> None:
    # Go's sort leaves identical intervals in reverse order of discovery; the scrubber keeps the first.
    assert scrub("call 2222222222") == "call <ISBN>"
    assert scrub("123-45-6789") == "<US_SSN>"
