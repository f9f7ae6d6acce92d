"""Test data and a helper that runs an Ibis expression over a list of strings."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛")
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

# Values chosen to hit every branch of every kind's normalisation and mask.
TRICKY: list[str | None] = [
    None, "", " ", "\u3000", "\t\n", "张", "张三", " 张三 ", "\u3000欧阳娜娜\u3000", "𠀀𠀁𠀂",
    "13812345678", "+86 138-1234-5678", "8613812345678", "008613812345678", "861381234567",
    "１３８１２３４５６７８", "138 1234 5678\n", "no digits", "12", "1234567",
    "11010519491231002X", "11010519491231002x", "１１０１０５１９４９１２３１００２Ｘ",
    " 440524188001010014 ", "110101900307123", "alice@example.com", " Alice@Example.COM ",
    "@example.com", "a@b.c", "no-at-sign", "ÄLICE@ÉXAMPLE.com", "6222021234561234",
    "6222 0212 3456 1234 567", "４５１２-３４５６", "理财小王子", "x", "😀😀😀", "C0001234567",
]


def random_values(seed: int, count: int) -> list[str | None]:
    """Generated raw values of every kind, with the noise real sources have."""
    rng = random.Random(seed)
    out: list[str | None] = []
    for _ in range(count):
        choice = rng.randrange(7)
        if choice == 0:
            surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.1 else rng.choice(SURNAMES)
            v = surname + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
        elif choice == 1:
            v = "1" + "".join(rng.choice("0123456789") for _ in range(10))
            v = rng.choice(["", "+86 ", "86", "0086"]) + v
        elif choice == 2:
            v = "".join(rng.choice("0123456789") for _ in range(17)) + rng.choice("0123456789Xx")
        elif choice == 3:
            local = "".join(rng.choice("abcXYZ._019") for _ in range(rng.randint(1, 10)))
            v = f"{local}@{rng.choice(['qq.com', 'Example.COM', '163.com'])}"
        elif choice == 4:
            v = "".join(rng.choice("0123456789") for _ in range(rng.randint(13, 19)))
        elif choice == 5:
            v = "".join(rng.choice("abc理财小王子_9") for _ in range(rng.randint(1, 12)))
        else:
            out.append(None)
            continue
        if rng.random() < 0.2:
            v = v.translate(FULLWIDTH)
        if rng.random() < 0.2:
            v = rng.choice([" ", "\u3000", "\t"]) + v + rng.choice(["", " ", "\u3000"])
        out.append(v)
    return out


Evaluator = Callable[[list[str | None], Callable[[ir.StringValue], ir.Value]], list[Any]]


def make_evaluator(con: Any) -> Evaluator:
    def evaluate(values: list[str | None],
                 build: Callable[[ir.StringValue], ir.Value]) -> list[Any]:
        table = ibis.memtable(pa.table({"i": pa.array(range(len(values)), pa.int64()),
                                        "v": pa.array(values, pa.string())}))
        expr = table.select("i", out=build(table.v)).order_by("i")
        result: list[Any] = con.to_pyarrow(expr)["out"].to_pylist()
        return result

    return evaluate
