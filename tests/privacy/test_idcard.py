from __future__ import annotations

import random
from datetime import date

import ibis
import pytest

from finpersona.privacy import (
    birth_date_from_id,
    gender_from_id,
    id_check_digit,
    id_check_digit_valid,
    id_check_digit_valid_expr,
    is_valid_id_number,
)

from ._helpers import Evaluator

# Weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2; check characters "10X98765432".
#
# 11010519491231002X (the GB 11643-1999 example):
#   1*7 + 1*9 + 0*10 + 1*5 + 0*8 + 5*4 + 1*2 + 9*1 + 4*6 + 9*3 + 1*7 + 2*9 + 3*10 + 1*5
#   + 0*8 + 0*4 + 2*2 = 167; 167 mod 11 = 2 -> "X".
# 440524188001010014:
#   4*7 + 4*9 + 0*10 + 5*5 + 2*8 + 4*4 + 1*2 + 8*1 + 8*6 + 0*3 + 0*7 + 1*9 + 0*10 + 1*5
#   + 0*8 + 0*4 + 1*2 = 195; 195 mod 11 = 8 -> "4".
# 110101199003071233:
#   1*7 + 1*9 + 0*10 + 1*5 + 0*8 + 1*4 + 1*2 + 9*1 + 9*6 + 0*3 + 0*7 + 3*9 + 0*10 + 7*5
#   + 1*8 + 2*4 + 3*2 = 174; 174 mod 11 = 9 -> "3" (so ...1234 and ...123X are wrong).
# 000000000000000001:
#   only the 17th digit counts: 1*2 = 2; 2 mod 11 = 2 -> "X" (birth date 00000000 is not real).
HAND_COMPUTED = [
    ("11010519491231002", "X"),
    ("44052418800101001", "4"),
    ("11010119900307123", "3"),
    ("00000000000000001", "X"),
]


@pytest.mark.parametrize(("first17", "check"), HAND_COMPUTED)
def test_check_digit_by_hand(first17: str, check: str) -> None:
    assert id_check_digit(first17) == check
    assert id_check_digit_valid(first17 + check)


def test_validity() -> None:
    assert is_valid_id_number("11010519491231002X")
    assert is_valid_id_number("11010519491231002x")  # lower-case check letter accepted
    assert is_valid_id_number("440524188001010014")
    assert is_valid_id_number("110101199003071233")
    assert not is_valid_id_number("110101199003071234")  # wrong check digit
    assert not is_valid_id_number("11010119900307123X")
    assert not is_valid_id_number("000000000000000001")  # check digit fine, no such date
    assert id_check_digit_valid("000000000000000001")
    # 1990-02-30 does not exist: 11010119900230123 -> check digit computed, still invalid
    first17 = "11010119900230123"
    assert not is_valid_id_number(first17 + id_check_digit(first17))
    for bad in ["", "11010519491231002", "11010519491231002XX", "1101051949123100 X",
                "１１０１０５１９４９１２３１００２Ｘ", "A1010519491231002X",
                " 11010519491231002X"]:
        assert not is_valid_id_number(bad), bad
    with pytest.raises(ValueError, match="17 ASCII digits"):
        id_check_digit("1234")


def test_birth_date_and_gender() -> None:
    assert birth_date_from_id("11010519491231002X") == date(1949, 12, 31)
    assert gender_from_id("11010519491231002X") == "F"  # 17th digit 2 is even
    assert gender_from_id("110101199003071233") == "M"  # 17th digit 3 is odd
    with pytest.raises(ValueError, match="impossible birth date"):
        birth_date_from_id("000000000000000001")
    with pytest.raises(ValueError, match="not an 18-character"):
        gender_from_id("123")


def sample_ids(seed: int, count: int) -> list[str | None]:
    rng = random.Random(seed)
    out: list[str | None] = [None, "", "11010519491231002X", "11010519491231002x",
                             "11010519491231002X\n", "1101051949123100２X", "abcdefghijklmnopqr",
                             "11010519491231002Y", "110105194912310021"]
    for _ in range(count):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        # About one in two valid, the rest with a random last character.
        last = id_check_digit(first17) if rng.random() < 0.5 else rng.choice("0123456789Xx")
        out.append(first17 + last)
    return out


def test_engine_matches_python(duckdb_eval: Evaluator) -> None:
    values = sample_ids(seed=7, count=500)
    got = duckdb_eval(values, id_check_digit_valid_expr)
    assert got == [None if v is None else id_check_digit_valid(v) for v in values]
    assert sum(1 for g in got if g) > 200


def test_expression_compiles_for_spark_without_running_it() -> None:
    table = ibis.table({"v": "string"}, name="t")
    sql = ibis.to_sql(table.select(ok=id_check_digit_valid_expr(table.v)), dialect="pyspark")
    assert "CAST" in sql.upper()
