from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finpersona.privacy import mask, mask_expr, mask_free_text
from finpersona.schema.model import Pii

from ._helpers import GIVEN, SURNAMES, TRICKY, Evaluator, random_values


@pytest.mark.parametrize(("kind", "raw", "masked"), [
    (Pii.NAME, "张三", "张*"),
    (Pii.NAME, "欧阳娜娜", "欧***"),
    (Pii.NAME, " 欧阳娜娜\u3000", "欧***"),
    (Pii.NAME, "𠀀𠀁", "𠀀*"),  # a character outside the BMP counts as one
    (Pii.NAME, "张", "*"),
    (Pii.PHONE, "13812345678", "138****5678"),
    (Pii.PHONE, "+86 138-1234-5678", "138****5678"),
    (Pii.PHONE, "１３８１２３４５６７８", "138****5678"),
    (Pii.PHONE, "1234567", "*******"),
    (Pii.ID_NUMBER, "110101199003071234", "110101********1234"),
    (Pii.ID_NUMBER, "11010519491231002x", "110105********002X"),
    (Pii.EMAIL, "alice@example.com", "a***@example.com"),
    (Pii.EMAIL, " Alice@Example.COM", "a***@example.com"),
    (Pii.EMAIL, "@example.com", "***@example.com"),
    (Pii.EMAIL, "alice", "a***"),
    (Pii.CARD_NUMBER, "6222021234561234", "************1234"),
    (Pii.CARD_NUMBER, "6222 0212 3456 1234", "************1234"),
    (Pii.CARD_NUMBER, "12345", "*****"),
    (Pii.HANDLE, "理财小王子", "理***"),
    (Pii.HANDLE, "x", "***"),
    (Pii.CUSTOMER_REF, "C0001234567", "*******4567"),
    (Pii.NAME, None, None),
    (Pii.NAME, "  ", None),
    (Pii.PHONE, "n/a", None),
])
def test_examples(kind: Pii, raw: str | None, masked: str | None,
                  duckdb_eval: Evaluator) -> None:
    assert mask(raw, kind) == masked
    assert duckdb_eval([raw], lambda v: mask_expr(v, kind)) == [masked]


@pytest.mark.parametrize("kind", list(Pii))
def test_engine_matches_python(kind: Pii, duckdb_eval: Evaluator) -> None:
    values = TRICKY + random_values(seed=len(kind.value), count=300)
    got = duckdb_eval(values, lambda v: mask_expr(v, kind))
    assert got == [mask(v, kind) for v in values]


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=25)), min_size=1, max_size=40),
       kind=st.sampled_from(list(Pii)))
def test_engine_matches_python_on_arbitrary_text(
    values: list[str | None], kind: Pii, duckdb_eval: Evaluator
) -> None:
    values = [v.replace("\x00", "") if v is not None else None for v in values]
    got = duckdb_eval(values, lambda v: mask_expr(v, kind))
    assert got == [mask(v, kind) for v in values]


def _digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=low, max_size=high)


REALISTIC: dict[Pii, st.SearchStrategy[str]] = {
    Pii.NAME: st.builds(lambda s, g: s + g, st.sampled_from(SURNAMES),
                        st.text(alphabet=GIVEN, min_size=1, max_size=3)),
    Pii.PHONE: st.builds(lambda d: "1" + d, _digits(10, 10)),
    Pii.ID_NUMBER: st.builds(lambda d, c: d + c, _digits(17, 17), st.sampled_from("0123456789X")),
    Pii.EMAIL: st.builds(lambda local, dom: f"{local}@{dom}",
                         st.text(alphabet="abcxyz._0189", min_size=2, max_size=12),
                         st.sampled_from(["qq.com", "163.com", "example.com"])),
    Pii.CARD_NUMBER: _digits(13, 19),
    Pii.HANDLE: st.text(alphabet="abc理财小王子_9", min_size=2, max_size=20),
    Pii.CUSTOMER_REF: st.text(alphabet="C0123456789", min_size=8, max_size=16),
    Pii.DEVICE_ID: st.text(alphabet="0123456789abcdef-", min_size=8, max_size=36),
}


@given(data=st.data(), kind=st.sampled_from(list(Pii)))
def test_mask_never_shows_the_whole_value(data: st.DataObject, kind: Pii) -> None:
    raw = data.draw(REALISTIC[kind])
    masked = mask(raw, kind)
    assert masked is not None
    assert raw not in masked
    assert "*" in masked


def test_free_text_preview() -> None:
    line = '1,张三,13812345678,alice@example.com,"欧阳娜娜",北京市朝阳区,１２３４５６,2024-01-15'
    assert mask_free_text(line) == (
        '1,张*,*********78,a***@example.com,"欧***",北京市朝阳区,****５６,****-**-15')


def test_free_text_grouped_digits_names_after_separators_and_lines() -> None:
    text = "李四：138 1234 5678\n王小明|6222-0212-3456-1234\t{\"name\": \"赵敏\"}"
    assert mask_free_text(text) == (
        "李*：*** **** **78\n王**|****-****-****-**34\t{\"name\": \"赵*\"}")


def test_free_text_leaves_other_text_alone() -> None:
    # Short numbers stay; CJK in running text (not right after a separator) stays: best effort.
    assert mask_free_text("amount 123, 客户投诉很多") == "amount 123, 客户投诉很多"
    assert mask_free_text("") == ""


@given(st.text(alphabet="0123456789０１２３４５６７８９", min_size=4, max_size=30))
def test_free_text_masks_every_long_digit_run(digits: str) -> None:
    masked = mask_free_text(f"x,{digits},y")
    assert masked == "x," + "*" * (len(digits) - 2) + digits[-2:] + ",y"
