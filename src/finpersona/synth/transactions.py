"""Card and account transactions with persona-specific amounts, merchants, channels and times."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from finpersona.synth import formatting as fmt
from finpersona.synth import identities as ids
from finpersona.synth import personas as ps
from finpersona.synth.accounts import AccountChunk
from finpersona.synth.attrition import Attrition
from finpersona.synth.calendar import day_weights, sample_times
from finpersona.synth.customers import CustomerChunk
from finpersona.synth.draw import Chunk, by_group, expand

# (MCC, log-amount offset, merchants); the order matches Persona.mcc_weights.
MCCS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("5411", 0.0, ("永辉超市", "华润万家", "沃尔玛", "盒马鲜生", "物美超市")),
    ("5812", 0.3, ("海底捞", "西贝莜面村", "外婆家", "太二酸菜鱼", "小龙坎火锅")),
    ("5814", -0.9, ("肯德基", "麦当劳", "瑞幸咖啡", "星巴克", "喜茶", "蜜雪冰城")),
    ("5311", 0.8, ("万达广场", "银泰百货", "王府井百货", "大悦城")),
    ("5964", 0.2, ("淘宝", "京东", "拼多多", "唯品会", "抖音电商")),
    ("4121", -0.8, ("滴滴出行", "曹操出行", "T3出行")),
    ("5541", 0.4, ("中国石化", "中国石油", "壳牌加油站")),
    ("7011", 1.4, ("华住酒店", "锦江之星", "亚朵酒店", "万豪酒店")),
    ("4511", 2.0, ("中国国航", "东方航空", "南方航空", "携程旅行")),
    ("5732", 1.8, ("苏宁易购", "国美电器", "Apple Store", "小米之家")),
    ("5912", -0.2, ("大参林", "老百姓大药房", "益丰大药房")),
    ("8062", 1.0, ("市第一人民医院", "中医院", "妇幼保健院")),
    ("8211", 2.0, ("新东方", "学而思", "市实验小学")),
    ("5691", 0.6, ("优衣库", "ZARA", "李宁", "安踏")),
    ("7832", -0.3, ("万达影城", "猫眼电影", "CGV影城")),
    ("5944", 2.5, ("周大福", "老凤祥", "周生生")),
    ("5046", 2.8, ("1688批发", "义乌商贸城", "美的商用设备")),
    ("4814", -0.4, ("中国移动", "中国联通", "中国电信")),
)
ONLINE_ONLY = 4  # the e-commerce MCC is always an online purchase
MERCHANTS = [m for _, _, names in MCCS for m in names]
MERCHANT_START = np.cumsum([0] + [len(n) for _, _, n in MCCS])[:-1]
MERCHANT_COUNT = np.array([len(n) for _, _, n in MCCS])
MCC_OFFSET = np.array([o for _, o, _ in MCCS])
CHANNELS = ("app", "pos", "online", "atm", "branch")
# Channel probabilities of non-purchase types (rows follow personas.TXN_TYPES).
TYPE_CHANNELS = np.array([
    [0, 0, 1, 0, 0], [.7, 0, .2, 0, .1], [.7, 0, .15, 0, .15], [0, 0, 0, .9, .1],
    [0, 0, 0, .4, .6], [0, 0, 1, 0, 0], [.85, 0, .15, 0, 0], [0, 0, 0, 0, 1],
    [0, 0, 1, 0, 0], [.3, .3, .4, 0, 0]])
DIRECTION = np.array([0, 1, 0, 0, 1, 1, 0, 0, 1, 1])  # 0 debit, 1 credit
STATUS_PROBS = np.array([[.97, .02, .01]])
CURRENCY = ("CNY", "USD", "HKD", "JPY")


def _amounts(rng: np.random.Generator, cust: CustomerChunk, owner: np.ndarray,
             ttype: np.ndarray, mcc: np.ndarray) -> np.ndarray:
    p = cust.persona[owner]
    base = ps.table("txn_amount_log_mean")[p]
    amount = rng.lognormal(base + MCC_OFFSET[mcc], 0.8)
    salary = cust.income[owner] * rng.uniform(0.9, 1.1, len(owner))
    transfer = rng.lognormal(base + 1.2, 1.0)
    cash = np.round(rng.lognormal(6.5, 0.6, len(owner)), -2) + 100
    by_type = [amount, transfer, transfer, cash, transfer, salary, amount * 2,
               rng.uniform(2, 50, len(owner)), rng.uniform(0.5, 60, len(owner)), amount]
    out = np.choose(ttype, by_type)
    return np.asarray(np.maximum(np.round(out, 2), 0.01))


def make_transactions(chunk: Chunk, cust: CustomerChunk, acc: AccountChunk,
                      leaving: Attrition) -> fmt.Columns:
    """A year of transactions; none after a customer has left (the draws stay the same)."""
    rng = chunk.rng("transactions")
    rate = ps.table("txn_per_year")[cust.persona] * cust.activity * chunk.months / 12
    owner, _ = expand(rng.poisson(rate))
    p = cust.persona[owner]
    n = len(owner)
    ttype = by_group(rng, p, ps.prob_table("txn_type_probs"))
    mcc = by_group(rng, p, ps.prob_table("mcc_weights"))
    shopping = (ttype == 0) | (ttype == 9)
    channel = by_group(rng, ttype, TYPE_CHANNELS)
    purchase_channel = np.array([1, 2, 0])[by_group(rng, p, ps.prob_table(
        "purchase_channel_probs"))]
    channel = np.where(shopping, purchase_channel, channel)
    channel = np.where(shopping & (mcc == ONLINE_ONLY), 2, channel)

    profile_of = np.array([ps.HOUR_PROFILE_NAMES.index(x.hour_profile) for x in ps.PERSONAS])
    kind = np.select([shopping & (channel == 2), shopping, np.isin(ttype, [1, 2])], [0, 1, 2], 3)
    when = np.empty(n, dtype="datetime64[s]")
    for k, name in enumerate(("online", "offline", "transfer", "flat")):
        idx = np.flatnonzero(kind == k)
        when[idx] = sample_times(rng, chunk.days, day_weights(chunk.days, name),
                                 profile_of[p[idx]])
    order = np.argsort(when, kind="stable")
    owner, p, ttype, mcc, channel, when, shopping = (
        owner[order], p[order], ttype[order], mcc[order], channel[order], when[order],
        shopping[order])

    card = acc.credit_account[owner]
    # Purchases go on the credit card from the day it is opened.
    on_card = (card >= 0) & shopping & (rng.random(n) < 0.55) & (
        when.astype("datetime64[D]") >= acc.credit_opened[owner])
    account = np.where(on_card, card, acc.debit_account[owner])
    merchant = MERCHANT_START[mcc] + (rng.random(n) * MERCHANT_COUNT[mcc]).astype(np.int64)
    away = rng.random(n) < 0.08
    city = np.where(away, rng.integers(0, len(ids.REGIONS), n), cust.region[owner])
    travel = (p == 2) & shopping & (rng.random(n) < 0.03)
    currency = np.where(travel, rng.integers(1, 4, n), 0)
    status = by_group(rng, np.zeros(n, dtype=np.int64), STATUS_PROBS)
    columns: fmt.Columns = {
        "txn_id": chunk.ids("T", n, 12),
        "account_id": fmt.take(acc.account_id, account),
        "customer_id": fmt.take(cust.customer_id, owner),
        "txn_time": fmt.timestamps(when),
        "amount": fmt.decimals(_amounts(rng, cust, owner, ttype, mcc)),
        "currency": fmt.codes(currency, CURRENCY),
        "direction": fmt.codes(DIRECTION[ttype], ("debit", "credit")),
        "txn_type": fmt.codes(ttype, ps.TXN_TYPES),
        "channel": fmt.codes(channel, CHANNELS),
        "mcc": fmt.codes(mcc, [m for m, _, _ in MCCS], missing=~shopping),
        "merchant_name": fmt.codes(merchant, MERCHANTS, missing=~shopping),
        "city": fmt.codes(city, [str(c) for c in ids.REGION_CITY]),
        "status": fmt.codes(status, ("success", "failed", "reversed")),
    }
    stays = pa.array(~leaving.after_churn(owner, when))
    return {name: values.filter(stays) for name, values in columns.items()}
