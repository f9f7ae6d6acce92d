"""Checks of the synthetic demo bank, written without the generator's own helpers."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from finpersona.schema import TABLES, TABLES_BY_NAME, Reason
from finpersona.synth import SynthSummary, generate_demo_bank

DIRTY = 0.02  # the rate the shared bank fixture (conftest.py) is generated with

ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_check_ok(number: str) -> bool:
    total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == number[17]


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def test_independent_checks_know_published_examples() -> None:
    assert id_check_ok("11010519491231002X")
    assert not id_check_ok("110105194912310021")
    assert luhn_ok("4539578763621486") and not luhn_ok("4539578763621487")


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = generate_demo_bank(tmp_path / "a", 600, seed=3, chunk_size=250)
    b = generate_demo_bank(tmp_path / "b", 600, seed=3, chunk_size=250)
    c = generate_demo_bank(tmp_path / "c", 600, seed=4, chunk_size=250)
    assert _digest(a.source_dir) == _digest(b.source_dir)
    assert _digest(a.truth_dir) == _digest(b.truth_dir)
    assert _digest(a.source_dir) != _digest(c.source_dir)


def _text(path: Path) -> str:
    raw = path.read_bytes()
    if "branch" in path.name:
        return raw.decode("gbk")
    return raw.decode("utf-8-sig")


@functools.cache
def _lines(path: Path) -> list[str]:
    return _text(path).split("\n")[:-1]


@functools.cache
def _parquet(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def _table_of(file: str) -> str:
    return max((t.name for t in TABLES if file.startswith((t.name + "_", t.name + "."))),
               key=len)


def test_every_table_has_files_with_canonical_columns(bank: SynthSummary) -> None:
    seen = {_table_of(f) for f in bank.files}
    assert seen == {t.name for t in TABLES}
    for file in bank.files:
        table = TABLES_BY_NAME[_table_of(file)]
        path = bank.source_dir / file
        if file.endswith(".csv"):
            assert _lines(path)[0].split(",") == table.column_names, file
        elif file.endswith(".jsonl"):
            first = json.loads(_lines(path)[0])
            assert list(first) == table.column_names, file
        else:
            schema = pq.read_schema(path)
            assert schema.names == table.column_names
            assert {str(t) for t in schema.types} == {"string"}
        assert bank.rows[table.name] > 0


def test_no_embedded_newlines_and_crlf(bank: SynthSummary) -> None:
    for file in bank.files:
        if file.endswith(".parquet"):
            continue
        raw = (bank.source_dir / file).read_bytes()
        assert b"\r" not in raw
        if file.endswith(".csv"):
            rows = list(csv.reader(io.StringIO(_text(bank.source_dir / file))))
            assert len(rows) == len(_lines(bank.source_dir / file)), file


@pytest.fixture(scope="module")
def corruptions(bank: SynthSummary) -> pd.DataFrame:
    return pq.read_table(bank.truth_dir / "corruptions.parquet").to_pandas()


def _clean_rows(bank: SynthSummary, corruptions: pd.DataFrame, table: str) -> pd.DataFrame:
    frames = []
    for file in bank.files:
        if _table_of(file) != table or not file.endswith(".csv") or "resend" in file:
            continue
        bad = set(corruptions.loc[corruptions.file == file, "line"])
        lines = _lines(bank.source_dir / file)
        rows = [r for i, r in enumerate(csv.reader(lines[1:]), start=2) if i not in bad]
        frames.append(pd.DataFrame(rows, columns=lines[0].split(",")))
    return pd.concat(frames, ignore_index=True)


def test_clean_id_numbers_are_valid_and_match_the_person(bank: SynthSummary,
                                                         corruptions: pd.DataFrame) -> None:
    people = _clean_rows(bank, corruptions, "customers")
    assert len(people) > 2500
    for _, row in people.iterrows():
        number = row["id_number"]
        assert len(number) == 18 and id_check_ok(number), number
        assert number[6:14] == row["birth_date"].replace("-", "")
        assert (int(number[16]) % 2 == 1) == (row["gender"] == "M")
        assert len(row["phone"]) == 11 and row["phone"][:2] in {"13", "14", "15", "16", "17",
                                                                "18", "19"}
    assert people["name"].str.len().between(2, 4).all()
    compound = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容", "公孙", "夏侯")
    assert people["name"].str.startswith(compound).sum() >= 1


def test_clean_card_numbers_pass_luhn(bank: SynthSummary, corruptions: pd.DataFrame) -> None:
    accounts = _clean_rows(bank, corruptions, "accounts")
    cards = accounts.loc[accounts.card_number != "", "card_number"]
    assert len(cards) > 3000
    assert cards.str.startswith("62").all()
    assert cards.str.len().isin([16, 19]).all()
    assert all(luhn_ok(c) for c in cards)


FULL = set("０１２３４５６７８９")


def _cell(file: Path, line: int, column: str, table: str) -> str | None:
    if file.suffix == ".parquet":
        value = _parquet(file)[column].iloc[line - 1]
        return None if pd.isna(value) else str(value)
    text = _lines(file)[line - 1]
    if file.suffix == ".jsonl":
        return json.loads(text)[column]  # type: ignore[no-any-return]
    fields = next(csv.reader([text]))
    return fields[TABLES_BY_NAME[table].column_names.index(column)]


def test_every_corruption_is_where_the_truth_says(bank: SynthSummary,
                                                  corruptions: pd.DataFrame) -> None:
    assert set(corruptions.family) == {"normalise", "invalid", "duplicate"}
    for rec in corruptions.itertuples():
        path = bank.source_dir / rec.file
        table = TABLES_BY_NAME[rec.table]
        if path.suffix == ".parquet":
            n_rows = len(_parquet(path))
            assert 1 <= rec.line <= n_rows
        else:
            lines = _lines(path)
            text = lines[rec.line - 1]
        kind = rec.kind
        if kind == "ragged_row":
            assert len(next(csv.reader([text]))) != len(table.columns)
            continue
        if kind == "bad_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(text)
            continue
        if kind == "exact_duplicate":
            if path.suffix != ".parquet":
                first_data = 2 if path.suffix == ".csv" else 1
                assert text in lines[first_data - 1: rec.line - 1]
            continue
        if kind == "resent":
            assert rec.key.split("|")[0] in (text if path.suffix != ".parquet" else rec.key)
            continue
        value = _cell(path, rec.line, rec.column, rec.table)
        exact = set(table.column(rec.column).allowed or ())
        allowed = {a.lower() for a in exact}
        assert value is not None
        checks = {
            "date_format": lambda v: "/" in v or "年" in v or v[:8].isdigit(),
            "fullwidth": lambda v: bool(FULL & set(v)),
            "currency": lambda v: "," in v or v.startswith(("¥", "￥")),
            "whitespace": lambda v: v != v.strip(),
            "bool_variant": lambda v: v in {"Y", "N", "1", "0", "是", "否", "TRUE", "FALSE"},
            "code_case": lambda v, allowed=allowed, exact=exact: (v.lower() in allowed
                                                                  and v not in exact),
            "missing_required": lambda v: v.strip() == "",
            "unknown_code": lambda v, allowed=allowed: v.lower() not in allowed,
            "bad_date": lambda v: not v[:4].isdigit() or "-13-" in v or "02-30" in v,
            "bad_number": lambda v: not v.replace(".", "", 1).isdigit(),
            "bad_format": lambda v: not (v.isdigit() and len(v) in (4, 11)
                                         and (len(v) == 4 or v.startswith("1"))),
            "bad_id_number": lambda v: not id_check_ok(v),
            "negative_balance": lambda v: v.startswith("-"),
            "age_212": lambda v: v.startswith("1813"),
            "non_positive_amount": lambda v: v.startswith("-") or float(v) <= 0,
        }
        assert checks[kind](value), (rec.file, rec.line, kind, value)
        if rec.family == "invalid":
            assert rec.reason in {r.value for r in Reason}


def test_special_files(bank: SynthSummary) -> None:
    branch = next(f for f in bank.files if f.startswith("customers_branch_"))
    raw = (bank.source_dir / branch).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "长沙市" in raw.decode("gbk")
    boms = [f for f in bank.files if (bank.source_dir / f).read_bytes()[:3] == b"\xef\xbb\xbf"]
    assert len(boms) == 1


def test_invalid_share_is_close_to_dirty_rate(bank: SynthSummary,
                                              corruptions: pd.DataFrame) -> None:
    invalid = corruptions[corruptions.family == "invalid"].groupby("table").size()
    for table in ("transactions", "events", "holdings", "accounts", "consents"):
        share = invalid[table] / bank.rows[table]
        assert DIRTY * 0.6 < share < DIRTY * 1.3, (table, share)
    assert (corruptions.family == "duplicate").sum() > 0
    assert set(corruptions.loc[corruptions.family == "invalid", "reason"].dropna()) >= {
        "missing_required", "out_of_range", "unknown_code", "bad_date", "bad_number",
        "bad_format", "bad_id_number", "ragged_row", "bad_json"}


def test_persona_shares_and_risk(bank: SynthSummary) -> None:
    truth = pd.read_parquet(bank.truth_dir / "customers.parquet")
    manifest = json.loads((bank.truth_dir / "manifest.json").read_text(encoding="utf-8"))
    configured = manifest["persona_shares"]["configured"]
    realised = truth.persona.value_counts(normalize=True)
    for name, share in configured.items():
        assert abs(realised.get(name, 0) - share) < 0.03, name
    pd_by = truth.groupby("persona").true_pd.mean()
    assert pd_by["credit_stressed_borrower"] == pd_by.max()
    assert pd_by["credit_stressed_borrower"] > 2 * pd_by.drop("credit_stressed_borrower").mean()


def _read_csvs(bank: SynthSummary, table: str) -> pd.DataFrame:
    files = [f for f in bank.files if _table_of(f) == table and "resend" not in f]
    return pd.concat([pd.read_csv(bank.source_dir / f, dtype=str, keep_default_na=False,
                                  on_bad_lines="skip", encoding="utf-8-sig") for f in files],
                     ignore_index=True)


def test_delinquency_follows_true_pd(bank: SynthSummary) -> None:
    truth = pd.read_parquet(bank.truth_dir / "customers.parquet")
    rep = _read_csvs(bank, "repayments")
    dpd = pd.to_numeric(rep.days_past_due, errors="coerce")
    bad = set(rep.customer_id[dpd > 30])
    borrowers = truth[truth.customer_id.isin(set(rep.customer_id))]
    flag = borrowers.customer_id.isin(bad)
    assert flag.sum() > 10
    assert borrowers.true_pd[flag].mean() > 2 * borrowers.true_pd[~flag].mean()
    assert borrowers.true_pd.corr(flag.astype(float)) > 0.1


def test_treatment_converts_more_than_control(bank: SynthSummary) -> None:
    touches = _read_csvs(bank, "marketing_touches")
    ok = touches.arm.isin(["treatment", "control"]) & touches.converted.isin(["true", "false"])
    t = touches[ok]
    rate = t.groupby("arm").converted.apply(lambda s: (s == "true").mean())
    assert rate["treatment"] > rate["control"]
    assert (t.loc[t.arm == "control", "sent"] != "true").all()


def test_double_eleven_peak(tmp_path: Path) -> None:
    summary = generate_demo_bank(tmp_path / "peak", 3000, seed=5, dirty_rate=0.0)
    tx = _read_csvs(summary, "transactions")
    online = tx[(tx.txn_type == "purchase") & (tx.channel == "online")]
    per_day = online.txn_time.str[:10].value_counts()
    ordinary = per_day.median()
    assert per_day["2025-11-11"] >= 2 * ordinary
    assert per_day["2025-06-18"] >= 2 * ordinary
    sf = tx[tx.txn_type == "transfer_out"].txn_time.str[:10].value_counts()
    assert sf.get(date(2025, 1, 28).isoformat(), 0) > 1.5 * sf.median()


def test_identity_truth_covers_every_event(bank: SynthSummary) -> None:
    ident = pd.read_parquet(bank.truth_dir / "identity.parquet")
    files = [f for f in bank.files if f.startswith("events_part")]
    ids = set()
    for f in files:
        for line in _lines(bank.source_dir / f):
            try:
                ids.add(json.loads(line)["event_id"].strip())
            except json.JSONDecodeError:
                continue
    assert ids <= set(ident.event_id)
    assert ident.event_id.is_unique
    assert set(ident.device_kind) == {"personal", "shared", "fraud", "junk", "visitor"}
    assert ident.loc[ident.device_kind == "visitor", "true_customer_id"].isna().all()
    fraud = ident[ident.device_kind == "fraud"].groupby("anonymous_id").true_customer_id.nunique()
    assert (fraud >= 10).all()
    shared = ident[ident.device_kind == "shared"]
    both = ident[ident.anonymous_id.isin(set(shared.anonymous_id))]
    # A family device is sometimes used only by the borrowing member within the period.
    assert (both.groupby("anonymous_id").true_customer_id.nunique() >= 2).mean() > 0.5
