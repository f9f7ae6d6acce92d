"""Credit behaviour against the brute-force reference, on random loan books and the bank."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import hypothesis.strategies as st
import ibis.expr.types as ir
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from finpersona.analytics import AnalysisError, open_analytics
from finpersona.analytics.base import collect
from finpersona.analytics.credit import (
    STATES,
    DpdDistribution,
    RollRateMatrix,
    RollRates,
    VintageCurves,
    compute_dpd_distribution,
    compute_roll_rates,
    compute_vintage,
    default_as_of,
    latest_month_end,
    month_end_panel,
)
from finpersona.cli import app
from finpersona.engine import Engine
from tests.analytics import reference_credit as ref
from tests.analytics.conftest import examples_for, table
from tests.conftest import Ingested

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j sockets on Spark

LOAN_SCHEMA = pa.schema([("loan_id", pa.string()), ("customer_key", pa.string()),
                         ("principal", pa.decimal128(18, 4)),
                         ("annual_rate", pa.decimal128(18, 4)), ("term_months", pa.int64()),
                         ("disbursed_date", pa.date32())])
REPAYMENT_SCHEMA = pa.schema([("loan_id", pa.string()), ("installment_no", pa.int64()),
                              ("due_date", pa.date32()), ("due_amount", pa.decimal128(18, 4)),
                              ("paid_date", pa.date32()), ("paid_amount", pa.decimal128(18, 4)),
                              ("days_past_due", pa.int64())])


# -- building loan books --------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clipped to the month's end (Jan 31 + 1 = Feb 28/29)."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = ref.end_of_month(date(year, month0 + 1, 1)).day
    return date(year, month0 + 1, min(day.day, last))


def loan(loan_id: str, disbursed: date, term: int, principal: str = "12000",
         rate: str = "0.12") -> dict[str, Any]:
    return {"loan_id": loan_id, "customer_key": f"c-{loan_id}", "principal": Decimal(principal),
            "annual_rate": Decimal(rate), "term_months": term, "disbursed_date": disbursed}


def instalment(loan_id: str, no: int, due: date, paid: date | None, amount: str = "1000",
               paid_amount: str | None = None) -> dict[str, Any]:
    paid_value = Decimal(amount) if paid is not None else (
        Decimal(paid_amount) if paid_amount is not None else None)
    return {"loan_id": loan_id, "installment_no": no, "due_date": due,
            "due_amount": Decimal(amount), "paid_date": paid, "paid_amount": paid_value,
            "days_past_due": 0}


DECIMALS = ("principal", "annual_rate", "due_amount", "paid_amount")


def _as_input(rows: list[dict[str, Any]], schema: pa.Schema) -> ir.Table:
    # Decimals travel as text and are cast back by the engine: Ibis cannot hand Spark a
    # memtable whose decimal column holds nulls.
    text = pa.schema([pa.field(f.name, pa.string()) if f.name in DECIMALS else f
                      for f in schema])
    t = table([{k: (None if v is None else str(v)) if k in DECIMALS else v
                for k, v in r.items()} for r in rows], text)
    return t.mutate(**{c: t[c].cast(schema.field(c).type) for c in DECIMALS if c in t.columns})


@contextmanager
def book(engine: Engine, loans: list[dict[str, Any]],
         rows: list[dict[str, Any]]) -> Iterator[tuple[ir.Table, ir.Table]]:
    """The book as engine input tables with the warehouse's column types."""
    yield _as_input(loans, LOAN_SCHEMA), _as_input(rows, REPAYMENT_SCHEMA)


# payment behaviour of one instalment: (kind, days relative to the due date)
PAYMENTS = st.one_of(st.just(("never", 0)), st.just(("partial", 0)),
                     st.tuples(st.just("paid"), st.integers(-20, 0)),
                     st.tuples(st.just("paid"), st.integers(1, 200)))


@st.composite
def loan_books(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]], date]:
    loans, rows = [], []
    for n in range(draw(st.integers(0, 6))):
        lid = f"L{n}"
        disbursed = draw(st.sampled_from([date(2024, 1, 31), date(2024, 2, 29),
                                          date(2024, 12, 31)])
                         | st.dates(date(2023, 11, 1), date(2025, 4, 30)))
        term = draw(st.integers(1, 8))
        principal = draw(st.sampled_from(["5000", "12000.5", "30000"]))
        loans.append(loan(lid, disbursed, term, principal,
                          draw(st.sampled_from(["0", "0.0500", "0.1800"]))))
        kind = draw(st.sampled_from(["whole", "whole", "truncated", "none"]))
        if kind == "none":
            continue
        first = draw(st.integers(2, max(2, term))) if kind == "truncated" else 1
        for k in range(first, term + 1):
            due = add_months(disbursed, k)
            how, days = draw(PAYMENTS)
            amount = draw(st.sampled_from(["800", "1000.25"]))
            if how == "paid":
                rows.append(instalment(lid, k, due, due + timedelta(days=days), amount))
            else:
                rows.append(instalment(lid, k, due, None, amount,
                                       "300" if how == "partial" else None))
    as_of = draw(st.sampled_from([date(2025, 2, 28), date(2024, 2, 29)])
                 | st.dates(date(2023, 12, 1), date(2026, 2, 28)))
    return loans, rows, as_of


# -- comparisons ----------------------------------------------------------------------------


def reference_inputs(loans: list[dict[str, Any]],
                     rows: list[dict[str, Any]]) -> tuple[list[ref.Loan], list[ref.Instalment]]:
    return ref.loans_from_rows(loans), ref.instalments_from_rows(rows)


def assert_panel(engine: Engine, loans: ir.Table, repayments: ir.Table, as_of: date,
                 expected: list[ref.LoanMonth]) -> list[dict[str, Any]]:
    got = collect(engine, month_end_panel(loans, repayments, as_of))
    assert sorted((r["loan_id"], r["month_end"], r["mob"], r["dpd"], r["state"]) for r in got) \
        == sorted((m.loan_id, m.month_end, m.mob, m.dpd, m.state) for m in expected)
    return got


def check_vintage(got: VintageCurves, expected: dict[str, dict[str, Any]]) -> None:
    assert [c.cohort for c in got.cohorts] == sorted(expected)
    for c in got.cohorts:
        e = expected[c.cohort]
        assert c.loans == e["loans"]
        assert c.principal == pytest.approx(float(e["principal"]))
        assert [p.mob for p in c.points] == list(range(1, len(e["rates"]) + 1))
        assert [p.rate for p in c.points] == pytest.approx(e["rates"])


def cells(matrix: RollRateMatrix) -> Counter[tuple[str, str]]:
    return Counter({(STATES[i], STATES[j]): n for i, row in enumerate(matrix.counts)
                    for j, n in enumerate(row) if n})


def check_roll_rates(got: RollRates, expected: dict[str, Counter[tuple[str, str]]]) -> None:
    assert [m.month for m in got.months] == sorted(expected)
    pooled: Counter[tuple[str, str]] = Counter()
    for m in got.months:
        assert cells(m) == expected[m.month], m.month
        pooled += cells(m)
    assert cells(got.pooled) == pooled


def check_dpd(got: DpdDistribution, expected: dict[str, dict[str, float]]) -> None:
    assert got.closed_loans == expected.get("closed", {}).get("loans", 0)
    for b in got.buckets:
        e = expected.get(b.bucket, {"loans": 0, "balance": 0.0, "overdue": 0.0})
        assert b.loans == e["loans"], b.bucket
        assert b.balance == pytest.approx(e["balance"], rel=1e-9, abs=1e-6), b.bucket
        assert b.overdue_amount == pytest.approx(e["overdue"], rel=1e-9, abs=1e-6), b.bucket


def assert_results(engine: Engine, loans: ir.Table, repayments: ir.Table, as_of: date,
                   ref_loans: list[ref.Loan], ref_rows: list[ref.Instalment], threshold: int,
                   by: str) -> None:
    assert_panel(engine, loans, repayments, as_of, ref.panel(ref_loans, ref_rows, as_of))
    check_vintage(compute_vintage(engine, loans, repayments, as_of=as_of, threshold=threshold,
                                  by=by),
                  ref.vintage(ref_loans, ref_rows, as_of, threshold, by))
    check_roll_rates(compute_roll_rates(engine, loans, repayments, as_of=as_of),
                     ref.roll_rates(ref_loans, ref_rows, as_of))
    check_dpd(compute_dpd_distribution(engine, loans, repayments, as_of=as_of),
              ref.dpd_distribution(ref_loans, ref_rows, as_of))


def assert_all(engine: Engine, loans_rows: list[dict[str, Any]], rows: list[dict[str, Any]],
               as_of: date, threshold: int = 30, by: str = "count") -> None:
    ref_loans, ref_rows = reference_inputs(loans_rows, rows)
    with book(engine, loans_rows, rows) as (loans, repayments):
        assert_results(engine, loans, repayments, as_of, ref_loans, ref_rows, threshold, by)


# -- random books ---------------------------------------------------------------------------


def test_random_loan_books_match_the_reference(engine: Engine) -> None:
    @settings(max_examples=examples_for(engine, duckdb=30, spark=3), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(loan_books(), st.sampled_from([1, 30, 60]), st.sampled_from(["count", "amount"]))
    def check(drawn: tuple[list[dict[str, Any]], list[dict[str, Any]], date], threshold: int,
              by: str) -> None:
        loans_rows, rows, as_of = drawn
        assert_all(engine, loans_rows, rows, as_of, threshold, by)

    check()


# -- fixed edge cases -----------------------------------------------------------------------

AS_OF = date(2025, 4, 15)  # the latest month end is 2025-03-31


def edge_book() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    loans = [
        loan("ON_DUE", date(2025, 1, 10), 2),  # paid exactly on the due dates: closed
        loan("LATE", date(2025, 1, 5), 3),  # first instalment paid 40 days late, on 17 March
        loan("PARTIAL", date(2024, 12, 15), 6),  # partly paid: still late
        loan("NEVER", date(2024, 12, 15), 6, "20000", "0"),  # never paid, zero rate
        loan("NEW", date(2025, 3, 20), 3),  # disbursed in the last month: MOB 0 only
        loan("FEB", date(2024, 1, 31), 3),  # due Feb 29 (leap year), unpaid on that month end
        loan("TRUNC", date(2023, 6, 10), 24),  # schedule exported from instalment 20
        loan("NOPLAN", date(2024, 6, 1), 12),  # no schedule at all: left out
        loan("FUTURE", date(2025, 4, 2), 3),  # disbursed after the latest month end
    ]
    rows = [
        instalment("ON_DUE", 1, date(2025, 2, 10), date(2025, 2, 10)),
        instalment("ON_DUE", 2, date(2025, 3, 10), date(2025, 3, 10)),
        instalment("LATE", 1, date(2025, 2, 5), date(2025, 3, 17)),
        instalment("LATE", 2, date(2025, 3, 5), date(2025, 3, 17)),
        instalment("LATE", 3, date(2025, 4, 5), None),
        instalment("PARTIAL", 1, date(2025, 1, 15), date(2025, 1, 15)),
        instalment("PARTIAL", 2, date(2025, 2, 15), None, paid_amount="600"),
        instalment("PARTIAL", 3, date(2025, 3, 15), date(2025, 3, 15)),
        *[instalment("NEVER", k, date(2025, k, 15), None) for k in (1, 2, 3, 4)],
        instalment("NEW", 1, date(2025, 4, 20), None),
        instalment("FEB", 1, date(2024, 2, 29), date(2024, 3, 1)),
        instalment("FEB", 2, date(2024, 3, 31), date(2024, 3, 31)),
        instalment("FEB", 3, date(2024, 4, 30), date(2024, 4, 29)),
        instalment("TRUNC", 20, date(2025, 2, 10), date(2025, 2, 12)),
        instalment("TRUNC", 21, date(2025, 3, 10), None),
        instalment("FUTURE", 1, date(2025, 5, 2), None),
    ]
    return loans, rows


def panel_of(engine: Engine, loans: ir.Table, repayments: ir.Table,
             as_of: date = AS_OF) -> dict[tuple[str, date], tuple[int, str]]:
    return {(r["loan_id"], r["month_end"]): (r["dpd"], r["state"])
            for r in collect(engine, month_end_panel(loans, repayments, as_of))}


def test_edge_book(engine: Engine) -> None:
    """Each edge case checked by hand, then the whole book against the reference."""
    ref_loans, ref_rows = reference_inputs(*edge_book())
    with book(engine, *edge_book()) as (loans, repayments):
        check_edge_panel(panel_of(engine, loans, repayments))
        vintage = compute_vintage(engine, loans, repayments, as_of=AS_OF, threshold=30)
        check_edge_vintage(vintage)
        check_vintage(vintage, ref.vintage(ref_loans, ref_rows, AS_OF, 30, "count"))
        by_amount = compute_vintage(engine, loans, repayments, as_of=AS_OF, by="amount")
        rates = [p.rate for p in {c.cohort: c for c in by_amount.cohorts}["2024-12"].points]
        assert rates == pytest.approx([0, 20000 / 32000, 1.0])
        check_vintage(by_amount, ref.vintage(ref_loans, ref_rows, AS_OF, 30, "amount"))
        dpd = compute_dpd_distribution(engine, loans, repayments, as_of=AS_OF)
        check_edge_dpd(dpd)
        check_dpd(dpd, ref.dpd_distribution(ref_loans, ref_rows, AS_OF))
        rolls = compute_roll_rates(engine, loans, repayments, as_of=AS_OF)
        check_roll_rates(rolls, ref.roll_rates(ref_loans, ref_rows, AS_OF))
        check_edge_march(compute_roll_rates(engine, loans, repayments, as_of=AS_OF,
                                            month="2025-03"))
        empty = compute_roll_rates(engine, loans, repayments, as_of=AS_OF, month="2020-01")
        assert sum(map(sum, empty.months[0].counts)) == 0
        assert all(s is None for row in empty.months[0].shares for s in row)


def check_edge_panel(p: dict[tuple[str, date], tuple[int, str]]) -> None:
    # Paid on the due date: never late; closed once the final instalment is paid.
    assert p[("ON_DUE", date(2025, 1, 31))] == (0, "M0")
    assert p[("ON_DUE", date(2025, 2, 28))] == (0, "M0")
    assert p[("ON_DUE", date(2025, 3, 31))] == (0, "closed")
    # Paid late on 17 March: 23 days late at the end of February, current at the end of March.
    assert p[("LATE", date(2025, 2, 28))] == (23, "M1")
    assert p[("LATE", date(2025, 3, 31))] == (0, "M0")
    # A partial payment does not cure the instalment: late from 15 February on.
    assert p[("PARTIAL", date(2025, 2, 28))] == (13, "M1")
    assert p[("PARTIAL", date(2025, 3, 31))] == (44, "M2")
    # Never paid: the oldest instalment sets the DPD.
    assert [p[("NEVER", d)] for d in (date(2024, 12, 31), date(2025, 1, 31),
                                      date(2025, 2, 28), date(2025, 3, 31))] == [
        (0, "M0"), (16, "M1"), (44, "M2"), (75, "M3")]
    # Disbursed in the last month: observed at MOB 0, current.
    assert p[("NEW", date(2025, 3, 31))] == (0, "M0")
    # Due on 29 Feb 2024 (leap year), paid on 1 March: that month end sees it 0 days late.
    assert p[("FEB", date(2024, 1, 31))] == (0, "M0")
    assert p[("FEB", date(2024, 2, 29))] == (0, "M0")
    assert p[("FEB", date(2024, 4, 30))] == (0, "closed")
    assert p[("FEB", date(2025, 3, 31))] == (0, "closed")
    # Left-truncated: observed from its first exported due date.
    assert min(d for (lid, d) in p if lid == "TRUNC") == date(2025, 2, 28)
    assert p[("TRUNC", date(2025, 3, 31))] == (21, "M1")
    # No schedule, or disbursed after the latest month end: not observed.
    assert not any(lid in ("NOPLAN", "FUTURE") for lid, _ in p)


def check_edge_vintage(vintage: VintageCurves) -> None:
    assert vintage.month_end == date(2025, 3, 31)
    assert vintage.loans_without_schedule == 1 and vintage.left_truncated_loans == 1
    cohorts = {c.cohort: c for c in vintage.cohorts}
    assert set(cohorts) == {"2024-01", "2024-12", "2025-01", "2025-03"}
    # 2024-12: NEVER reaches 44 DPD at MOB 2, PARTIAL at MOB 3.
    assert [p.rate for p in cohorts["2024-12"].points] == [0, 0.5, 1.0]
    assert cohorts["2025-03"].points == ()  # nothing observed after MOB 0


def check_edge_dpd(dpd: DpdDistribution) -> None:
    buckets = {b.bucket: b for b in dpd.buckets}
    assert (buckets["M0"].loans, buckets["M1"].loans, buckets["M2"].loans,
            buckets["M3"].loans, dpd.closed_loans) == (2, 1, 1, 1, 2)
    assert buckets["M3"].overdue_amount == 3000  # NEVER: three instalments due, none paid
    assert buckets["M3"].balance == pytest.approx(20000)  # zero rate, nothing paid
    assert buckets["M2"].overdue_amount == 400  # PARTIAL: 1000 due, 600 paid
    assert sum(b.loan_share or 0 for b in dpd.buckets) == pytest.approx(1)


def check_edge_march(rolls: RollRates) -> None:
    assert [m.month for m in rolls.months] == ["2025-03"]
    march = rolls.months[0]
    assert march.counts[STATES.index("M2")][STATES.index("M3")] == 1  # NEVER
    assert march.counts[STATES.index("M1")][STATES.index("M2")] == 1  # PARTIAL
    assert march.counts[STATES.index("M1")][STATES.index("M0")] == 1  # LATE cured
    assert march.shares[STATES.index("closed")][STATES.index("closed")] == 1.0
    assert rolls.pooled.counts == march.counts


def test_a_month_end_that_is_the_due_date_sees_zero_days(engine: Engine) -> None:
    # as_of on 29 Feb 2024 is itself a month end; the instalment due that day is not late yet.
    with book(engine, *edge_book()) as (loans, repayments):
        p = panel_of(engine, loans, repayments, date(2024, 2, 29))
    assert p[("FEB", date(2024, 2, 29))] == (0, "M0")
    assert max(d for _, d in p) == date(2024, 2, 29)


def test_empty_book(engine: Engine) -> None:
    with book(engine, [], []) as (loans, repayments):
        check_empty_book(engine, loans, repayments)


def check_empty_book(engine: Engine, loans: ir.Table, repayments: ir.Table) -> None:
    assert compute_vintage(engine, loans, repayments, as_of=AS_OF).cohorts == ()
    assert compute_roll_rates(engine, loans, repayments, as_of=AS_OF).months == ()
    dpd = compute_dpd_distribution(engine, loans, repayments, as_of=AS_OF)
    assert all(b.loans == 0 and b.loan_share is None for b in dpd.buckets)
    with pytest.raises(AnalysisError, match="no loans"):
        default_as_of(engine, loans, repayments)


def test_bad_parameters_are_analysis_errors() -> None:
    engine: Any = None  # never reached: parameters are checked before any query
    loans, repayments = table([], LOAN_SCHEMA), table([], REPAYMENT_SCHEMA)
    with pytest.raises(AnalysisError, match="threshold"):
        compute_vintage(engine, loans, repayments, as_of=AS_OF, threshold=0)
    with pytest.raises(AnalysisError, match="count or amount"):
        compute_vintage(engine, loans, repayments, as_of=AS_OF, by="balance")
    with pytest.raises(AnalysisError, match="max-mob"):
        compute_vintage(engine, loans, repayments, as_of=AS_OF, max_mob=0)
    with pytest.raises(AnalysisError, match="YYYY-MM"):
        compute_roll_rates(engine, loans, repayments, as_of=AS_OF, month="2025-13")
    with pytest.raises(AnalysisError, match="after the latest month end"):
        compute_roll_rates(engine, loans, repayments, as_of=AS_OF, month="2025-04")
    with pytest.raises(AnalysisError, match="needs column"):
        month_end_panel(loans.drop("principal"), repayments, AS_OF)


def test_latest_month_end() -> None:
    assert latest_month_end(date(2025, 3, 31)) == date(2025, 3, 31)
    assert latest_month_end(date(2025, 3, 30)) == date(2025, 2, 28)
    assert latest_month_end(date(2024, 3, 1)) == date(2024, 2, 29)
    assert latest_month_end(date(2025, 1, 1)) == date(2024, 12, 31)


# -- the synthetic bank ---------------------------------------------------------------------


def bank_tables(ingested: Ingested) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with open_analytics(ingested.workspace) as data:
        loans = data.engine.to_arrow(data.table("loans")).to_pylist()
        rows = data.engine.to_arrow(data.table("repayments")).to_pylist()
    return loans, rows


def test_synthetic_bank_matches_the_reference(ingested: Ingested) -> None:
    loans_rows, rows = bank_tables(ingested)
    ref_loans, ref_rows = reference_inputs(loans_rows, rows)
    with open_analytics(ingested.workspace) as data:
        e, loans, repayments = data.engine, data.table("loans"), data.table("repayments")
        as_of = default_as_of(e, loans, repayments)
        assert as_of == date(2025, 12, 31)
        panel = assert_panel(e, loans, repayments, as_of, ref.panel(ref_loans, ref_rows, as_of))
        check_vintage(compute_vintage(e, loans, repayments, as_of=as_of),
                      ref.vintage(ref_loans, ref_rows, as_of, 30, "count"))
        check_roll_rates(compute_roll_rates(e, loans, repayments, as_of=as_of),
                         ref.roll_rates(ref_loans, ref_rows, as_of))
        check_dpd(compute_dpd_distribution(e, loans, repayments, as_of=as_of),
                  ref.dpd_distribution(ref_loans, ref_rows, as_of))
    # At the extraction date the reconstructed DPD is the source's own days_past_due.
    extracted: dict[str, int] = {}
    for r in rows:
        if r["paid_date"] is None and r["due_date"] <= as_of:
            extracted[r["loan_id"]] = max(extracted.get(r["loan_id"], 0), r["days_past_due"])
    latest = {r["loan_id"]: r["dpd"] for r in panel if r["month_end"] == as_of}
    assert sum(1 for v in latest.values() if v) >= 10, "the bank has late loans"
    assert {k: v for k, v in latest.items() if v} == {
        k: v for k, v in extracted.items() if v and k in latest}


def test_cli_json(ingest_with: Any) -> None:
    ws = ingest_with("duckdb").workspace
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(app, ["analyze", *args, "-w", str(ws.root), "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    vintage = run("vintage", "--threshold", "60", "--by", "amount")
    assert vintage["threshold"] == 60 and vintage["by"] == "amount"
    assert vintage["month_end"] == "2025-12-31" and vintage["cohorts"]
    assert set(vintage["cohorts"][0]) == {"cohort", "loans", "principal", "points"}
    rolls = run("roll-rates", "--month", "2025-06")
    assert [m["month"] for m in rolls["months"]] == ["2025-06"]
    assert rolls["states"] == list(STATES)
    dpd = run("dpd", "--as-of", "2025-11-30")
    assert dpd["month_end"] == "2025-11-30"
    assert [b["bucket"] for b in dpd["buckets"]] == list(STATES[:-1])
    bad = runner.invoke(app, ["analyze", "roll-rates", "--month", "June", "-w", str(ws.root)])
    assert bad.exit_code == 1 and "YYYY-MM" in bad.stderr and "Traceback" not in bad.output
    bad = runner.invoke(app, ["analyze", "dpd", "--as-of", "yesterday", "-w", str(ws.root)])
    assert bad.exit_code == 1 and "--as-of" in bad.stderr
