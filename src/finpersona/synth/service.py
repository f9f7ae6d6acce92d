"""Service tickets and social-media posts with Chinese free text."""

from __future__ import annotations

import numpy as np

from finpersona.synth import formatting as fmt
from finpersona.synth import personas as ps
from finpersona.synth.calendar import day_weights, sample_times
from finpersona.synth.customers import CustomerChunk
from finpersona.synth.draw import Chunk, by_group, expand

CATEGORIES = ("card", "loan", "deposit", "wealth", "fee", "app_issue", "fraud",
              "service_attitude", "other")
TICKET_CHANNELS = ("phone", "app_chat", "branch", "email", "wechat", "weibo")
# Topic mix per persona (rows follow personas.PERSONAS, columns CATEGORIES).
CATEGORY_PROBS = np.array([
    [.25, .08, .05, .05, .12, .25, .08, .07, .05], [.15, .15, .15, .1, .12, .12, .05, .1, .06],
    [.1, .03, .12, .4, .1, .05, .05, .12, .03], [.12, .3, .08, .05, .15, .1, .05, .1, .05],
    [.05, .02, .35, .15, .1, .12, .08, .1, .03], [.15, .4, .02, .01, .2, .07, .05, .07, .03],
    [.25, .1, .05, .05, .1, .3, .08, .04, .03]])
COMPLAINT_SHARE = np.array([.15, .25, .05, .35, .4, .05, .45, .7, .05])
# Sentence templates per category; {a} is an amount, {d} a number of days.
TEMPLATES: tuple[tuple[str, ...], ...] = (
    ("信用卡年费{a}元没有提前通知就扣了，要求退还", "我的信用卡额度太低了，申请提额被拒",
     "信用卡账单金额不对，多出{a}元", "信用卡分期手续费太高，想提前还款"),
    ("贷款利率比宣传的高，实际年化远超说明", "申请的贷款{d}天了还没有审批结果",
     "提前还贷要收违约金{a}元，不合理", "贷款被拒但没有告诉原因"),
    ("定期存款到期后没有自动转存", "存款利率又下调了，想咨询大额存单",
     "柜台存的{a}元在手机银行看不到", "销户需要本人到网点太麻烦"),
    ("理财产品亏损{a}元，购买时没有提示风险", "基金净值一直跌，客户经理推荐时说很稳",
     "理财到期{d}天了资金还没到账", "风险测评结果和我的实际情况不符"),
    ("账户管理费{a}元是什么收费", "跨行转账手续费{a}元太贵了", "短信通知费没有告知就扣费",
     "小额账户管理费要求取消"),
    ("手机银行转账失败，钱扣了但对方没收到", "APP登录一直闪退，更新后也不行",
     "人脸识别总是失败无法转账", "APP升级后找不到理财入口"),
    ("银行卡被盗刷{a}元，本人一直持卡", "接到冒充银行客服的诈骗电话，差点被骗",
     "收到可疑短信链接要求验证账户", "账户出现陌生交易{a}元，要求冻结"),
    ("网点工作人员服务态度很差，等了{d}分钟", "客服电话一直打不通，排队太久",
     "客户经理反复推销保险，很反感", "大堂经理态度冷淡，不愿解释"),
    ("咨询一下积分兑换规则", "想修改预留手机号", "询问网点营业时间", "开具存款证明需要什么材料"),
)
OPENERS = ("", "你好，", "您好，", "麻烦问一下，", "投诉：", "急！")
CLOSERS = ("", "。", "，请尽快处理。", "，希望给个说法。", "！", "，谢谢。")
SOCIAL_PLATFORMS = ("weibo", "wechat", "douyin", "xiaohongshu", "zhihu", "heimao")
SOCIAL_TEXTS = (
    "这家银行的手机银行越来越好用了，转账秒到", "又被理财坑了，亏了{a}块，再也不信客户经理",
    "信用卡年费说免就免，客服态度不错点赞", "贷款审批{d}天都没消息，效率太低",
    "618用这家的信用卡立减{a}元，真香", "黑猫投诉：银行卡被盗刷{a}元至今未解决",
    "大额存单利率又降了，存钱还有什么意义", "网点排队{d}分钟，只开了一个窗口",
    "双11分期免息活动还挺划算", "新出的养老理财收益还可以，推荐给爸妈了")
HANDLE_HEADS = ("理财", "小", "快乐的", "北漂", "沪上", "阿", "爱吃", "打工人", "佛系", "追风")
HANDLE_TAILS = ("小王子", "猫", "达人", "日记", "阿姨", "兔兔", "大叔", "星星", "鱼", "小白")


def _fill(templates: list[str], amount: np.ndarray, days: np.ndarray) -> list[str]:
    # Tickets are rare (well under one per customer), so formatting them one by one is cheap.
    return [t.format(a=a, d=d) for t, a, d in zip(templates, amount.tolist(), days.tolist(),
                                                 strict=True)]


def make_tickets(chunk: Chunk, cust: CustomerChunk) -> fmt.Columns:
    rng = chunk.rng("service")
    rate = ps.table("tickets_per_year")[cust.persona] * chunk.months / 12
    owner, _ = expand(rng.poisson(rate * (0.5 + cust.activity / 2)))
    n = len(owner)
    p = cust.persona[owner]
    cat = by_group(rng, p, CATEGORY_PROBS)
    variant = rng.integers(0, 4, n)
    profile = np.zeros(n, dtype=np.int64)
    opened = sample_times(rng, chunk.days, day_weights(chunk.days, "app"), profile)
    order = np.argsort(opened, kind="stable")
    owner, p, cat, variant, opened = owner[order], p[order], cat[order], variant[order], \
        opened[order]
    body = [TEMPLATES[c][v] for c, v in zip(cat.tolist(), variant.tolist(), strict=True)]
    amount = np.round(rng.lognormal(5, 1.2, n)).astype(np.int64) + 1
    days = rng.integers(2, 40, n)
    text = _fill(body, amount, days)
    opener = np.array(OPENERS)[rng.integers(0, len(OPENERS), n)]
    closer = np.array(CLOSERS)[rng.integers(0, len(CLOSERS), n)]
    complaint = rng.random(n) < np.clip(COMPLAINT_SHARE[cat] * ps.table("complaint_share")[p]
                                        / 0.05, 0, 0.95)
    satisfaction = np.clip(np.round(rng.normal(np.where(complaint, 2.2, 4.2), 0.9)), 1, 5)
    rated = rng.random(n) < 0.7
    closed = opened + np.round(rng.exponential(np.where(complaint, 3 * 86400, 4 * 3600))).astype(
        "timedelta64[s]")
    end = chunk.end.astype("datetime64[s]") + np.timedelta64(86399, "s")
    still_open = closed > end
    channel = by_group(rng, np.zeros(n, dtype=np.int64),
                       np.array([[.45, .25, .12, .05, .1, .03]]))
    return {
        "ticket_id": chunk.ids("TK", n, 11),
        "customer_id": fmt.take(cust.customer_id, owner),
        "opened_at": fmt.timestamps(opened),
        "channel": fmt.codes(channel, TICKET_CHANNELS),
        "category": fmt.codes(cat, CATEGORIES),
        "text": fmt.concat(fmt.text(opener), fmt.text(np.array(text)), fmt.text(closer)),
        "is_complaint": fmt.booleans(complaint),
        "satisfaction": fmt.integers(satisfaction, missing=~rated | still_open),
        "closed_at": fmt.timestamps(closed, missing=still_open),
    }


def make_mentions(chunk: Chunk, cust: CustomerChunk) -> fmt.Columns:
    rng = chunk.rng("social")
    n = int(cust.n * 0.06)
    linked = rng.random(n) < 0.3
    owner = rng.integers(0, cust.n, n)
    posted = sample_times(rng, chunk.days, day_weights(chunk.days, "online"),
                          np.zeros(n, dtype=np.int64))
    order = np.argsort(posted, kind="stable")
    linked, owner, posted = linked[order], owner[order], posted[order]
    template = [SOCIAL_TEXTS[i] for i in rng.integers(0, len(SOCIAL_TEXTS), n).tolist()]
    text = _fill(template, np.round(rng.lognormal(5, 1, n)).astype(np.int64) + 1,
                 rng.integers(3, 60, n))
    heads = np.array(HANDLE_HEADS)[rng.integers(0, len(HANDLE_HEADS), n)]
    tails = np.array(HANDLE_TAILS)[rng.integers(0, len(HANDLE_TAILS), n)]
    handle = np.strings.add(np.strings.add(heads, tails), rng.integers(1, 9999, n).astype(str))
    likes = np.round(rng.lognormal(2, 1.5, n)).astype(np.int64)
    return {
        "mention_id": chunk.ids("SM", n, 11),
        "platform": fmt.codes(rng.integers(0, len(SOCIAL_PLATFORMS), n), SOCIAL_PLATFORMS),
        "author_handle": fmt.text(handle),
        "customer_id": fmt.take(cust.customer_id, owner, missing=~linked),
        "posted_at": fmt.timestamps(posted),
        "text": fmt.text(np.array(text)),
        "likes": fmt.integers(likes),
        "reposts": fmt.integers(likes // rng.integers(2, 20, n)),
    }
