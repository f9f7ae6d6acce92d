"""The demo bank's product catalogue and marketing campaigns (reference tables)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from finpersona.synth.calendar import add_months, period_end


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    type: str
    risk: str
    term_months: int
    rate: float
    min_amount: float
    launch: str


PRODUCTS: tuple[Product, ...] = (
    Product("P001", "活期储蓄账户", "demand_deposit", "R1", 0, 0.001, 0, "2005-03-01"),
    Product("P002", "代发工资卡", "demand_deposit", "R1", 0, 0.0015, 0, "2010-06-01"),
    Product("P003", "三个月整存整取", "time_deposit", "R1", 3, 0.0125, 50, "2005-03-01"),
    Product("P004", "一年期定期存款", "time_deposit", "R1", 12, 0.0165, 50, "2005-03-01"),
    Product("P005", "三年期定期存款", "time_deposit", "R1", 36, 0.0215, 50, "2005-03-01"),
    Product("P006", "大额存单", "time_deposit", "R1", 36, 0.026, 200_000, "2016-01-15"),
    Product("P007", "现金管理类理财", "wealth_management", "R1", 0, 0.021, 1, "2019-05-10"),
    Product("P008", "稳健30天持有期理财", "wealth_management", "R2", 1, 0.028, 1_000, "2020-03-02"),
    Product("P009", "季季盈固收增强", "wealth_management", "R2", 3, 0.032, 10_000, "2021-07-01"),
    Product("P010", "年年丰混合理财", "wealth_management", "R3", 12, 0.041, 10_000, "2022-02-18"),
    Product("P011", "私行专享权益理财", "wealth_management", "R4", 12, 0.055, 1_000_000,
            "2023-04-01"),
    Product("P012", "货币市场基金", "fund", "R1", 0, 0.018, 1, "2014-08-01"),
    Product("P013", "纯债债券基金", "fund", "R2", 0, 0.032, 10, "2017-03-20"),
    Product("P014", "沪深300指数基金", "fund", "R4", 0, 0.06, 10, "2015-05-04"),
    Product("P015", "科技成长混合基金", "fund", "R5", 0, 0.08, 10, "2020-09-09"),
    Product("P016", "黄金ETF联接基金", "fund", "R4", 0, 0.05, 10, "2018-11-11"),
    Product("P017", "养老目标日期FOF", "fund", "R3", 36, 0.045, 10, "2022-11-25"),
    Product("P018", "安心重疾险", "insurance", "R2", 240, 0.0, 3_000, "2018-01-01"),
    Product("P019", "金福年金险", "insurance", "R2", 120, 0.03, 10_000, "2019-06-01"),
    Product("P020", "增利万能险", "insurance", "R3", 60, 0.03, 5_000, "2020-01-01"),
    Product("P021", "综合意外险", "insurance", "R1", 12, 0.0, 100, "2017-01-01"),
    Product("P022", "标准信用卡", "credit_card", "R3", 0, 0.18, 0, "2008-01-01"),
    Product("P023", "白金信用卡", "credit_card", "R3", 0, 0.18, 0, "2012-05-01"),
    Product("P024", "青春联名信用卡", "credit_card", "R3", 0, 0.18, 0, "2019-09-01"),
    Product("P025", "快e贷信用消费贷", "consumer_loan", "R3", 12, 0.072, 1_000, "2018-03-01"),
    Product("P026", "安居装修贷", "consumer_loan", "R3", 36, 0.045, 20_000, "2019-04-01"),
    Product("P027", "随借随还分期贷", "consumer_loan", "R4", 6, 0.15, 500, "2021-06-01"),
    Product("P028", "个人住房按揭贷款", "mortgage", "R2", 360, 0.039, 100_000, "2005-03-01"),
    Product("P029", "小微经营贷", "business_loan", "R3", 24, 0.045, 50_000, "2017-08-01"),
    Product("P030", "税易贷", "business_loan", "R3", 12, 0.055, 10_000, "2020-02-01"),
)
PRODUCT_INDEX = {p.product_id: i for i, p in enumerate(PRODUCTS)}
PRODUCT_IDS = np.array([p.product_id for p in PRODUCTS])
PRODUCT_TYPES = np.array([p.type for p in PRODUCTS])
PRODUCT_RATE = np.array([p.rate for p in PRODUCTS])
PRODUCT_MIN = np.array([p.min_amount for p in PRODUCTS])
LOAN_PRODUCTS = ("P025", "P026", "P027", "P029", "P030")


# Which product of a family a customer picks. The random parts come in as arguments so
# the account recipe (accounts.py) and planted acquisition (acquisition.py) share the rules.
def card_product(persona: np.ndarray) -> np.ndarray:
    """Platinum for affluent investors, the co-branded card for the young, else standard."""
    return np.asarray(np.select(
        [persona == 2, np.isin(persona, [0, 6])],
        [PRODUCT_INDEX["P023"], PRODUCT_INDEX["P024"]], default=PRODUCT_INDEX["P022"]))


def pick(options: tuple[str, ...], draw: np.ndarray) -> np.ndarray:
    """Products by uniform integer draws in [0, len(options))."""
    return np.asarray(np.array([PRODUCT_INDEX[o] for o in options])[draw])


def time_deposit_product(draw: np.ndarray, aum: np.ndarray) -> np.ndarray:
    """A term deposit, or a large certificate of deposit for customers above 300,000."""
    return np.asarray(np.where(aum > 300_000, PRODUCT_INDEX["P006"],
                               pick(("P003", "P004", "P005"), draw)))


def wealth_product(appetite: np.ndarray, noise: np.ndarray, aum: np.ndarray) -> np.ndarray:
    """Riskier customers pick riskier wealth products; private banking for the rich and bold."""
    level = np.clip(np.round(appetite + noise), 1, 4)
    wm = np.array([PRODUCT_INDEX[x] for x in ("P007", "P008", "P009", "P010")])[
        level.astype(int) - 1]
    return np.asarray(np.where((aum > 1_000_000) & (appetite > 3.5), PRODUCT_INDEX["P011"], wm))


def fund_level(appetite: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """A fund by risk level: money market, bond, target-date, index, growth."""
    level = np.clip(np.round(appetite + noise), 1, 5)
    return np.asarray(np.array([PRODUCT_INDEX[x] for x in ("P012", "P013", "P017", "P014",
                                                           "P015")])[level.astype(int) - 1])


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    product_id: str
    objective: str
    channel: str
    start_month: int  # months after the period start
    weeks: int
    control_share: float
    cost_per_contact: float
    reach: tuple[float, ...]  # share of each persona in the audience
    base_uplift: float
    affinity: tuple[float, ...]  # persona multipliers of the uplift
    revenue: float


CAMPAIGNS: tuple[Campaign, ...] = (
    Campaign("CMP2501", "新春理财节", "P009", "cross_sell", "app_push", 0, 4, 0.2, 0.05,
             (.3, .5, .8, .4, .6, .1, .1), 0.030, (.6, 1.0, 1.6, .8, 1.3, .1, .3), 180),
    Campaign("CMP2502", "信用卡分期免息", "P022", "activation", "sms", 2, 3, 0.15, 0.08,
             (.6, .5, .2, .4, .1, .5, .5), 0.035, (1.5, 1.0, .3, .8, .2, .4, 1.2), 120),
    Campaign("CMP2503", "618消费返现", "P024", "activation", "app_push", 5, 3, 0.1, 0.02,
             (.8, .5, .2, .3, .1, .5, .8), 0.045, (1.6, 1.0, .2, .5, .1, .6, 1.4), 60),
    Campaign("CMP2504", "快e贷限时利率优惠", "P025", "cross_sell", "sms", 3, 4, 0.2, 0.08,
             (.4, .5, .1, .6, .05, .7, .3), 0.025, (1.0, 1.0, .1, 1.8, .1, 1.2, .6), 300),
    Campaign("CMP2505", "养老金融关爱计划", "P017", "cross_sell", "phone", 7, 6, 0.25, 2.5,
             (.05, .4, .5, .2, .8, .05, 0), 0.040, (.2, .9, 1.0, .6, 1.8, .1, .1), 250),
    Campaign("CMP2506", "沉睡客户唤醒", "P001", "winback", "wechat", 8, 4, 0.2, 0.03,
             (.3, .3, .2, .3, .5, .3, .4), 0.020, (1.2, .9, .6, 1.0, .5, 1.4, 1.3), 40),
    Campaign("CMP2507", "双11支付立减", "P023", "activation", "app_push", 10, 2, 0.1, 0.02,
             (.8, .6, .3, .4, .1, .5, .8), 0.050, (1.5, 1.1, .3, .6, .1, .7, 1.5), 70),
    Campaign("CMP2508", "大额存单预约", "P006", "retention", "email", 9, 5, 0.3, 0.01,
             (.05, .3, .8, .4, .6, 0, 0), 0.030, (.1, .7, 1.5, .9, 1.4, 0, 0), 500),
)


def campaign_dates(campaign: Campaign, start: date, months: int) -> tuple[date, date]:
    """A campaign's first and last day, kept inside the generated period."""
    last_month = max(0, min(campaign.start_month, months - 1))
    first = add_months(date(start.year, start.month, 1), last_month)
    first = max(first, start)
    end_limit = period_end(start, months).astype(date)
    days = campaign.weeks * 7 - 1
    last = date.fromordinal(min(first.toordinal() + days, end_limit.toordinal()))
    return first, last
