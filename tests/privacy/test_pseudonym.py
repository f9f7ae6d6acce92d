from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finpersona.privacy import (
    PSEUDONYM_LENGTH,
    normalise,
    normalise_expr,
    pseudonym,
    pseudonym_expr,
    pseudonym_or_none,
)
from finpersona.schema.model import Pii

from ._helpers import TRICKY, Evaluator, random_values

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def test_definition_matches_the_spec() -> None:
    expected = hashlib.sha256(f"{KEY.hex()}:phone:13812345678".encode()).hexdigest()[:20]
    assert pseudonym("+86 138-1234-5678", Pii.PHONE, KEY) == expected
    assert len(expected) == PSEUDONYM_LENGTH


@pytest.mark.parametrize(("kind", "raw", "canonical"), [
    (Pii.CUSTOMER_REF, "  C001 ", "C001"),
    (Pii.NAME, "\u3000张三 ", "张三"),
    (Pii.PHONE, "+86 138-1234-5678", "13812345678"),
    (Pii.PHONE, "8613812345678", "13812345678"),
    (Pii.PHONE, "008613812345678", "13812345678"),
    (Pii.PHONE, "861381234567", "861381234567"),  # 12 digits: no country code to drop
    (Pii.PHONE, "１３８１２３４５６７８", "13812345678"),
    (Pii.ID_NUMBER, " 11010519491231002x ", "11010519491231002X"),
    (Pii.ID_NUMBER, "１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"),
    (Pii.EMAIL, " Alice@Example.COM ", "alice@example.com"),
    (Pii.CARD_NUMBER, "6222-0212 3456 1234", "6222021234561234"),
    (Pii.DEVICE_ID, " dev-AB ", "dev-AB"),
    (Pii.HANDLE, " 理财小王子 ", "理财小王子"),
])
def test_normalise(kind: Pii, raw: str, canonical: str, duckdb_eval: Evaluator) -> None:
    assert normalise(raw, kind) == canonical
    assert duckdb_eval([raw], lambda v: normalise_expr(v, kind)) == [canonical]


def test_spellings_of_one_value_share_a_pseudonym() -> None:
    phones = ["13812345678", "+86 138 1234 5678", "138-1234-5678", "１３８１２３４５６７８"]
    assert len({pseudonym(p, Pii.PHONE, KEY) for p in phones}) == 1
    assert pseudonym("A@B.CN", Pii.EMAIL, KEY) == pseudonym("a@b.cn", Pii.EMAIL, KEY)


def test_kind_is_part_of_the_pseudonym() -> None:
    assert pseudonym("13812345678", Pii.PHONE, KEY) != pseudonym(
        "13812345678", Pii.CUSTOMER_REF, KEY)


def test_nothing_to_pseudonymise() -> None:
    assert pseudonym_or_none(None, Pii.PHONE, KEY) is None
    assert pseudonym_or_none("n/a", Pii.PHONE, KEY) is None
    assert pseudonym_or_none("   ", Pii.NAME, KEY) is None
    with pytest.raises(ValueError, match="nothing to pseudonymise"):
        pseudonym("n/a", Pii.PHONE, KEY)
    with pytest.raises(ValueError, match="must not be empty"):
        pseudonym("x", Pii.PHONE, b"")


@pytest.mark.parametrize("kind", list(Pii))
def test_engine_matches_python(kind: Pii, duckdb_eval: Evaluator) -> None:
    values = TRICKY + random_values(seed=hash(kind.value) % 1000, count=300)
    got = duckdb_eval(values, lambda v: pseudonym_expr(v, kind, KEY))
    assert got == [pseudonym_or_none(v, kind, KEY) for v in values]
    assert None in got  # nulls and empty values stay null


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=25)), min_size=1, max_size=40),
       kind=st.sampled_from(list(Pii)))
def test_engine_matches_python_on_arbitrary_text(
    values: list[str | None], kind: Pii, duckdb_eval: Evaluator
) -> None:
    values = [v.replace("\x00", "") if v is not None else None for v in values]
    got = duckdb_eval(values, lambda v: pseudonym_expr(v, kind, KEY))
    assert got == [pseudonym_or_none(v, kind, KEY) for v in values]


@given(st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != ""),
       st.binary(min_size=16, max_size=32))
def test_deterministic(value: str, key: bytes) -> None:
    assert pseudonym_or_none(value, Pii.HANDLE, key) == pseudonym_or_none(value, Pii.HANDLE, key)


@given(st.text(min_size=1, max_size=40).filter(lambda s: s.strip("\u3000 \t\n\r\x0b\x0c\xa0")),
       st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_different_keys_give_different_pseudonyms(value: str, key1: bytes, key2: bytes) -> None:
    if key1 == key2:
        return
    p1 = pseudonym(value, Pii.CUSTOMER_REF, key1)
    p2 = pseudonym(value, Pii.CUSTOMER_REF, key2)
    assert p1 != p2
    assert len(p1) == len(p2) == PSEUDONYM_LENGTH
    assert all(c in "0123456789abcdef" for c in p1)
