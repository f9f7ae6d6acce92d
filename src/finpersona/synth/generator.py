"""Generate the whole demo bank, chunk by chunk."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from finpersona.schema import TABLES
from finpersona.synth import personas as ps
from finpersona.synth.accounts import draw_accounts, finish_accounts, starting_position
from finpersona.synth.acquisition import make_acquisitions
from finpersona.synth.attrition import make_attrition
from finpersona.synth.catalogue import PRODUCTS
from finpersona.synth.consents import make_consents, make_risk_assessments
from finpersona.synth.credit import make_credit
from finpersona.synth.customers import GBK_BRANCH_ID, make_customers
from finpersona.synth.draw import Chunk, stream
from finpersona.synth.events import make_events
from finpersona.synth.formatting import Columns, dates, decimals, integers, text
from finpersona.synth.marketing import campaign_rows, make_marketing
from finpersona.synth.service import make_mentions, make_tickets
from finpersona.synth.transactions import make_transactions
from finpersona.synth.truth import TruthWriter
from finpersona.synth.writer import CORRUPTION_SCHEMA, SourceWriter

Progress = Callable[[str, int, int], None]
DEFAULT_CHUNK = 25_000  # keeps peak memory near 1.5 GB whatever the customer count


@dataclass(frozen=True)
class SynthSummary:
    """What a run wrote: folders, data rows per table (all files) and source file names."""

    source_dir: Path
    truth_dir: Path
    rows: dict[str, int]
    files: list[str]
    rows_by_file: dict[str, dict[str, int]] = field(default_factory=dict)
    persona_shares: dict[str, float] = field(default_factory=dict)


def product_rows() -> Columns:
    return {
        "product_id": text([p.product_id for p in PRODUCTS]),
        "product_name": text([p.name for p in PRODUCTS]),
        "product_type": text([p.type for p in PRODUCTS]),
        "risk_level": text([p.risk for p in PRODUCTS]),
        "term_months": integers(np.array([p.term_months for p in PRODUCTS])),
        "annual_rate": decimals(np.array([p.rate for p in PRODUCTS]), 4),
        "min_amount": decimals(np.array([p.min_amount for p in PRODUCTS])),
        "currency": text(["CNY"] * len(PRODUCTS)),
        "launch_date": dates(np.array([p.launch for p in PRODUCTS], dtype="datetime64[D]")),
        "status": text(["on_sale"] * len(PRODUCTS)),
    }


def _split(cols: Columns, mask: np.ndarray) -> tuple[Columns, Columns]:
    m = pa.array(mask)
    inv = pc.invert(m)
    return ({k: v.filter(inv) for k, v in cols.items()}, {k: v.filter(m) for k, v in cols.items()})


def _write_chunk(chunk: Chunk, first: int, n: int, dirty_rate: float, out: SourceWriter,
                 truth: TruthWriter) -> None:
    cust = make_customers(chunk.seed, chunk.number, first, n, chunk.start)
    drawn_credit = make_credit(chunk.seed, chunk.number, cust, chunk.start, chunk.months)
    drawn = draw_accounts(chunk.seed, chunk.number, cust, drawn_credit.loans, chunk.start,
                          chunk.months)
    # Planted churn and acquisition (attrition.py, acquisition.py) on top of the drawn
    # accounts: who holds what when the period starts drives both.
    position = starting_position(drawn, cust, chunk.start, chunk.end)
    leaving = make_attrition(chunk, cust, position.types_held)
    acquired = make_acquisitions(chunk, cust, position.held, position.exposed_from,
                                 position.types_held, leaving.churned_at)
    credit = drawn_credit.before_leaving(leaving.churned_at)
    accounts = finish_accounts(drawn, position, acquired, leaving, cust, drawn_credit.loans,
                               credit.loan_kept, chunk.number, chunk.start, chunk.months)
    consents = make_consents(chunk, cust)
    mess_rng = chunk.rng("mess")
    part = f"part{chunk.number:04d}"
    main = cust.columns
    if chunk.number == 0:
        # One branch still delivers its customers as a GBK export of its own.
        main, branch = _split(main, np.asarray(pc.equal(cust.branch_id, GBK_BRANCH_ID)))
        out.write("customers", "branch_0731", branch, mess_rng, encoding="gbk")
    out.write("customers", part, main, mess_rng)
    truth.customers(cust)
    truth.churn(cust, leaving)
    truth.acquisition(cust, acquired)
    out.write("accounts", part, accounts.columns, mess_rng)
    out.write("holdings", part, accounts.holdings, mess_rng)
    out.write("transactions", part, make_transactions(chunk, cust, accounts, leaving),
              mess_rng)
    events = make_events(chunk, cust, drawn_credit.funnel, dirty_rate, leaving)
    out.write("events", part, events.columns, mess_rng)
    truth.identity(events)
    del events
    out.write("loan_applications", part, credit.applications, mess_rng)
    out.write("loans", part, credit.loan_rows, mess_rng)
    out.write("repayments", part, credit.repayments, mess_rng)
    out.write("consents", part, consents.columns, mess_rng)
    out.write("risk_assessments", part, make_risk_assessments(chunk, cust), mess_rng)
    marketing = make_marketing(chunk, cust, consents.marketing_ok)
    out.write("marketing_touches", part, marketing.touches, mess_rng)
    truth.uplift(marketing.uplift)
    out.write("service_tickets", part, make_tickets(chunk, cust), mess_rng)
    out.write("social_mentions", part, make_mentions(chunk, cust), mess_rng)


def generate_demo_bank(out: Path, customers: int, seed: int = 7, dirty_rate: float = 0.02,
                       start: date = date(2025, 1, 1), months: int = 12,
                       progress: Progress | None = None, *,
                       chunk_size: int = DEFAULT_CHUNK) -> SynthSummary:
    """Write a synthetic bank's source files to ``out/source`` and its truth to ``out/truth``.

    The same arguments always give byte-identical files.
    """
    if customers < 1 or months < 1 or not 0 <= dirty_rate < 0.3 or chunk_size < 1:
        raise ValueError("customers and months must be positive, dirty_rate within [0, 0.3)")
    out = Path(out)
    source_dir, truth_dir = out / "source", out / "truth"
    for folder in (source_dir, truth_dir):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    writer = SourceWriter(source_dir, dirty_rate)
    truth = TruthWriter(truth_dir, start)
    report = progress or (lambda _stage, _done, _total: None)
    global_chunk = Chunk(seed, -1, start, months)
    catalogue_rng = stream(seed, -1, "catalogue")
    writer.write("products", "", product_rows(), catalogue_rng, bom=True, mess=False)
    writer.write("campaigns", "", campaign_rows(global_chunk), catalogue_rng, mess=False)
    n_chunks = (customers + chunk_size - 1) // chunk_size
    report("customers", 0, customers)
    for number in range(n_chunks):
        first = number * chunk_size
        n = min(chunk_size, customers - first)
        _write_chunk(Chunk(seed, number, start, months), first + 1, n, dirty_rate, writer, truth)
        report("customers", first + n, customers)
    report("resend", 0, 1)
    writer.write_resends()
    report("resend", 1, 1)
    corruptions = (pa.concat_tables(writer.corruptions) if writer.corruptions
                   else CORRUPTION_SCHEMA.empty_table())
    shares = truth.persona_counts / max(1, truth.persona_counts.sum())
    configured = ps.persona_shares()
    rows = {t.name: sum(writer.rows.get(t.name, {}).values()) for t in TABLES}
    manifest = {
        "arguments": {"customers": customers, "seed": seed, "dirty_rate": dirty_rate,
                      "start": start.isoformat(), "months": months, "chunk_size": chunk_size},
        "rows": rows,
        "rows_by_file": writer.rows,
        "persona_shares": {"configured": dict(zip(ps.PERSONA_NAMES, configured.round(4).tolist(),
                                                  strict=True)),
                           "realised": dict(zip(ps.PERSONA_NAMES, shares.round(4).tolist(),
                                                strict=True))},
        "corruptions": int(corruptions.num_rows),
    }
    truth.close(corruptions, manifest)
    report("done", 1, 1)
    files = sorted(f for per in writer.rows.values() for f in per)
    return SynthSummary(source_dir, truth_dir, rows, files, writer.rows,
                        dict(zip(ps.PERSONA_NAMES, shares.tolist(), strict=True)))
