"""Python tags of the default catalogue: what the declarative form cannot say.

Each function takes the build's :class:`TagContext` and returns an engine table
with ``customer_key`` (one row per customer of the ``customers`` view) and one
column per tag it serves, named like the tag. Everything is an Ibis expression
(run by DuckDB or Spark alike); no customer data is pulled into Python.

Decimal tags are computed in double precision and rounded to 4 decimals; they
are returned as float64, the type the tag snapshot stores decimal tags in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import ibis
import ibis.expr.types as ir

from finpersona.config import Settings
from finpersona.tags.context import LOCAL_DATE, TagContext

DECIMAL = "float64"  # the snapshot type of decimal tags
AUM_TYPES = ("demand_deposit", "time_deposit", "wealth_management", "fund", "insurance")
INVESTMENT_TYPES = ("wealth_management", "fund", "insurance")  # AUM that is not a deposit
RFM_WINDOW_DAYS = 365  # the default RFM window (setting rfm_window_days)
SCORE_EPSILON = 1e-9  # keeps exact fifths (cume_dist 0.4 -> score 2) from rounding up
TREND_DAYS = 90

# Spending categories by ISO 18245 merchant category code; unlisted codes are "other".
SPEND_CATEGORY_CODES: dict[str, frozenset[str]] = {
    "groceries": frozenset({"5411", "5422", "5441", "5451", "5462", "5499"}),
    "dining": frozenset({"5811", "5812", "5813", "5814"}),
    "shopping": frozenset({
        "5200", "5211", "5251", "5261", "5300", "5309", "5310", "5311", "5331", "5399", "5611",
        "5621", "5631", "5641", "5651", "5655", "5661", "5691", "5699", "5712", "5719", "5722",
        "5732", "5733", "5734", "5735", "5941", "5942", "5943", "5945", "5946", "5947", "5948",
        "5949", "5970", "5977", "5992", "5993", "5994", "5999"}),
    "online_shopping": frozenset({"5964", "5965", "5966", "5967", "5968", "5969"}),
    "travel": frozenset({"4411", "4511", "4582", "4722", "7011", "7012", "7512", "7519"}),
    "transport": frozenset({"4111", "4112", "4121", "4131", "4784", "4789", "7523"}),
    "auto_fuel": frozenset({"5172", "5511", "5521", "5531", "5532", "5533", "5541", "5542",
                            "7531", "7538", "7542"}),
    "health": frozenset({"5122", "5912", "5975", "5976", "8011", "8021", "8031", "8041",
                         "8042", "8043", "8049", "8050", "8062", "8071", "8099"}),
    "education": frozenset({"8211", "8220", "8241", "8244", "8249", "8299", "8351"}),
    "entertainment": frozenset({"5815", "5816", "5817", "5818", "7832", "7841", "7911", "7922",
                                "7929", "7932", "7933", "7941", "7991", "7992", "7993", "7994",
                                "7996", "7997", "7998", "7999"}),
    "jewellery": frozenset({"5094", "5944"}),
    "telecom_utilities": frozenset({"4812", "4814", "4816", "4899", "4900"}),
    "wholesale": frozenset({"5045", "5046", "5047", "5051", "5065", "5072", "5074", "5085",
                            "5099", "5111", "5131", "5137", "5139", "5169", "5192", "5193",
                            "5198"}),
}
# Airline (3000-3299), car rental (3351-3500) and hotel (3501-3999) brand codes.
TRAVEL_MCC_RANGE = ("3000", "3999")
OTHER_CATEGORY = "other"


def _all_customers(ctx: TagContext, table: ir.Table, **defaults: ir.Value) -> ir.Table:
    """Every customer of the build, with the table's columns (null, or the given default,
    where the table has no row for the customer)."""
    customers = ctx.view("customers").select("customer_key")
    joined = customers.left_join(table, "customer_key")
    cols = [c for c in table.columns if c != "customer_key"]
    return joined.select(customers.customer_key, **{
        c: joined[c].fill_null(defaults[c]) if c in defaults else joined[c] for c in cols})


def _ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    """numerator / denominator rounded to 4 decimals; null when the denominator is not > 0."""
    value = (numerator.cast(DECIMAL) / denominator.cast(DECIMAL)).round(4)
    return ibis.ifelse(denominator > 0, value, ibis.null(DECIMAL))


def _debits(ctx: TagContext, days: int | None) -> ir.Table:
    t = ctx.view("transactions")
    t = t.filter((t.direction == "debit") & (t.status == "success"))
    return ctx.in_window(t, days)


def _fifths(order: ir.Value) -> ir.IntegerValue:
    """Score 1-5: ceil(5 x cume_dist). Ties share the cume_dist of their whole peer group,
    so equal values always score alike (ntile would split them arbitrarily by engine)."""
    share = ibis.cume_dist().over(order_by=order)
    return (share * 5 - SCORE_EPSILON).ceil().cast("int64").clip(1, 5)


# -- RFM: one implementation for the tags and for `finpersona analyze rfm` --------------------

class RfmScoring(StrEnum):
    QUANTILE = "quantile"  # fifths of the debiting customers (cume_dist, ties alike)
    FIXED = "fixed"  # four cuts per measure, the same for every build


RFM_HIGH_SCORE = 3  # a score is "high" from the middle fifth up (value.yaml rfm_segment)
# The eight classic classes (RFM 八类客户) as (name, R high, F high, M high), in the order
# of the rfm_segment tag's values.
RFM_CLASSES: tuple[tuple[str, bool, bool, bool], ...] = (
    ("重要价值", True, True, True),
    ("重要发展", True, False, True),
    ("重要保持", False, True, True),
    ("重要挽留", False, False, True),
    ("一般价值", True, True, False),
    ("一般发展", True, False, False),
    ("一般保持", False, True, False),
    ("一般挽留", False, False, False),
)


@dataclass(frozen=True)
class RfmParams:
    """How RFM is measured and scored (workspace settings ``rfm_*``).

    Fixed scoring: R is 5 when the last debit is at most ``recency_cuts[0]`` days before
    the as-of date, 4 up to ``recency_cuts[1]`` and so on, 1 beyond the last cut; F and M
    are 1 plus the number of cuts the value reaches (``value >= cut``).
    """

    window_days: int = RFM_WINDOW_DAYS
    scoring: RfmScoring = RfmScoring.QUANTILE
    recency_cuts: tuple[int, ...] = (30, 60, 90, 180)
    frequency_cuts: tuple[int, ...] = (2, 6, 12, 24)
    monetary_cuts: tuple[float, ...] = (1000.0, 5000.0, 20000.0, 100000.0)

    @classmethod
    def from_settings(cls, settings: Settings) -> RfmParams:
        return cls(window_days=settings.rfm_window_days,
                   scoring=RfmScoring(settings.rfm_scoring),
                   recency_cuts=tuple(settings.rfm_recency_cuts),
                   frequency_cuts=tuple(settings.rfm_frequency_cuts),
                   monetary_cuts=tuple(settings.rfm_monetary_cuts))


def rfm_params(ctx: TagContext) -> RfmParams:
    """The RFM settings of the workspace the build runs for (its engine's settings)."""
    return RfmParams.from_settings(ctx.engine.settings)


def rfm_measures(ctx: TagContext, window_days: int) -> ir.Table:
    """Per customer with a successful debit in the window: ``last_day`` (local date of
    the latest), ``recency_days`` (as-of date minus it), ``frequency`` (how many) and
    ``monetary`` (CNY debited; foreign-currency amounts are not converted, so not added)."""
    t = _debits(ctx, window_days)
    per = t.group_by("customer_key").aggregate(
        last_day=t[LOCAL_DATE].max(),
        frequency=t.count(),
        monetary=t.amount.sum(where=t.currency == "CNY").fill_null(0),
    )
    return per.mutate(recency_days=ctx.as_of_literal().delta(per["last_day"], unit="day"))


def _count_reached(value: ir.NumericValue, cuts: tuple[ir.Value, ...]) -> ir.IntegerValue:
    reached = [ibis.ifelse(value >= cut, 1, 0) for cut in cuts]
    total: ir.IntegerValue = reached[0]
    for one in reached[1:]:
        total = total + one
    return total.cast("int64")


def _fixed_scores(per: ir.Table, params: RfmParams) -> dict[str, ir.IntegerValue]:
    # Cuts compared as decimals: a float cut next to a decimal sum would round the sum.
    money = tuple(ibis.literal(Decimal(str(c)).quantize(Decimal("0.0001")), "decimal(38, 4)")
                  for c in params.monetary_cuts)
    beyond = [ibis.ifelse(per["recency_days"] > cut, 1, 0) for cut in params.recency_cuts]
    late: ir.IntegerValue = beyond[0]
    for one in beyond[1:]:
        late = late + one
    return {
        "r_score": (5 - late).cast("int64"),
        "f_score": 1 + _count_reached(per["frequency"],
                                      tuple(ibis.literal(c) for c in params.frequency_cuts)),
        "m_score": 1 + _count_reached(per["monetary"], money),
    }


def _quantile_scores(per: ir.Table) -> dict[str, ir.IntegerValue]:
    return {"r_score": _fifths(per["last_day"]),  # a later last debit ranks higher
            "f_score": _fifths(per["frequency"]),
            "m_score": _fifths(per["monetary"])}


def rfm_class(r_score: ir.IntegerValue, f_score: ir.IntegerValue,
              m_score: ir.IntegerValue) -> ir.StringValue:
    """The classic class of three scores (RFM_CLASSES; high = RFM_HIGH_SCORE or more)."""
    high = [s >= RFM_HIGH_SCORE for s in (r_score, f_score, m_score)]
    branches = [((high[0] == r) & (high[1] == f) & (high[2] == m), name)
                for name, r, f, m in RFM_CLASSES]
    return ibis.cases(*branches, else_=ibis.null(str))


def rfm_customers(ctx: TagContext, params: RfmParams) -> ir.Table:
    """Every customer of the build with recency_days (null without a debit in the window),
    frequency, monetary (0 without), r/f/m scores (1 without) and ``rfm_class``.

    Quantile scores rank only the customers with a debit in the window against each other,
    so a large inactive base does not inflate the active scores.
    """
    per = rfm_measures(ctx, params.window_days)
    scores = (_fixed_scores(per, params) if params.scoring is RfmScoring.FIXED
              else _quantile_scores(per))
    scored = per.select("customer_key", "recency_days", "frequency", "monetary", **scores)
    one = ibis.literal(1, "int64")
    full = _all_customers(ctx, scored, frequency=ibis.literal(0, "int64"),
                          monetary=ibis.literal(Decimal(0), scored["monetary"].type()),
                          r_score=one, f_score=one, m_score=one)
    return full.mutate(rfm_class=rfm_class(full["r_score"], full["f_score"], full["m_score"]))


def rfm_scores(ctx: TagContext) -> ir.Table:
    """r_score, f_score, m_score: the scores of :func:`rfm_customers` with the workspace's
    settings (default: quintiles of successful debits in the 365 days up to the as-of date;
    customers without such a debit score 1)."""
    return rfm_customers(ctx, rfm_params(ctx)).select(
        "customer_key", "r_score", "f_score", "m_score")


def credit_utilisation(ctx: TagContext) -> ir.Table:
    """Owed / limit over all credit cards (latest snapshot each), as one ratio per customer.

    Summing before dividing weights each card by its limit, as a card issuer reports
    portfolio utilisation; cards without a positive limit cannot be used and are left out.
    """
    h = ctx.view("holdings_latest")
    h = h.filter((h.product_type == "credit_card") & (h.credit_limit > 0))
    per = h.group_by("customer_key").aggregate(owed=h.balance.sum(),
                                               card_limit=h.credit_limit.sum())
    return _all_customers(ctx, per.select(
        "customer_key", credit_utilisation=_ratio(per["owed"], per["card_limit"])))


def wealth_share(ctx: TagContext) -> ir.Table:
    """Share of AUM in wealth management, funds and insurance (a balance-weighted share,
    which the row-counting ``share`` measure cannot express)."""
    h = ctx.view("holdings_latest")
    h = h.filter(h.product_type.isin(AUM_TYPES))
    per = h.group_by("customer_key").aggregate(
        aum=h.balance.sum(),
        invested=h.balance.sum(where=h.product_type.isin(INVESTMENT_TYPES)).fill_null(0))
    return _all_customers(ctx, per.select(
        "customer_key", wealth_share_of_aum=_ratio(per["invested"], per["aum"])))


def current_delinquency(ctx: TagContext) -> ir.Table:
    """current_dpd: days past due on the as-of date, recomputed from due and paid dates.

    The delivered ``days_past_due`` is as of extraction; for a build as of an earlier
    day an instalment paid after that day was still unpaid on it, and one unpaid now was
    fewer days late then. An instalment is unpaid on day D when it has no paid date or
    was paid after D; it is then D - due date days past due (0 when due on D).
    """
    r = ctx.view("repayments")  # instalments due on or before the as-of date
    as_of = ctx.as_of_literal()
    unpaid = r.paid_date.isnull() | (r.paid_date > as_of)
    dpd = ibis.ifelse(unpaid, as_of.delta(r.due_date, unit="day"), 0).cast("int64")
    per = r.group_by("customer_key").aggregate(current_dpd=dpd.max())
    return _all_customers(ctx, per)


def txn_trend(ctx: TagContext) -> ir.Table:
    """txn_count_trend_90d: successful debits in the last 90 days / the 90 days before.

    A ratio of two windows, which a rule cannot compute (rules compare tags with
    constants only); null when the earlier window is empty.
    """
    t = _debits(ctx, 2 * TREND_DAYS)
    recent_start = ctx.window_start(TREND_DAYS)
    recent = t[LOCAL_DATE] >= recent_start
    per = t.group_by("customer_key").aggregate(recent=t.count(where=recent),
                                               earlier=t.count(where=~recent))
    return _all_customers(ctx, per.select(
        "customer_key", txn_count_trend_90d=_ratio(per["recent"], per["earlier"])))


def spend_category(mcc: ir.StringValue) -> ir.StringValue:
    """The spending category of a merchant category code (SPEND_CATEGORY_CODES)."""
    low, high = TRAVEL_MCC_RANGE
    branches = [(mcc.isin(sorted(codes)), name) for name, codes in SPEND_CATEGORY_CODES.items()]
    branches.append(((mcc >= low) & (mcc <= high), "travel"))
    return ibis.cases(*branches, else_=OTHER_CATEGORY)


def spend_category_preference(ctx: TagContext) -> ir.Table:
    """preferred_spend_category_365d: the category with most successful purchases in 365
    days (ties: the alphabetically first). Needs a code-to-category mapping, so it is not
    a plain ``mode``."""
    t = ctx.view("transactions")
    t = ctx.in_window(t.filter((t.txn_type == "purchase") & (t.status == "success")
                               & t.mcc.notnull()), RFM_WINDOW_DAYS)
    t = t.mutate(category=spend_category(t.mcc))
    counts = t.group_by(["customer_key", "category"]).aggregate(n=t.count())
    rank = ibis.row_number().over(group_by=counts["customer_key"],
                                  order_by=[counts["n"].desc(), counts["category"]])
    top = counts.mutate(rank=rank).filter(lambda x: x["rank"] == 0)
    return _all_customers(ctx, top.select(
        "customer_key", preferred_spend_category_365d=top["category"]))
