"""Chinese personal identifiers: names, places, resident IDs, phones, cards, devices.

Identifiers are realistic enough for validation code to be exercised for real:
resident ID numbers carry a correct ISO 7064 MOD 11-2 check digit and the
birth date and gender parity of their holder, and card numbers are Luhn-valid
UnionPay (62) numbers.
"""

from __future__ import annotations

import numpy as np

# Frequent single surnames (most common first), then compound surnames (复姓).
SURNAMES = tuple("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
                 "于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱"
                 "江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容", "公孙", "夏侯")
GIVEN_CHARS = tuple("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏飞鑫宇浩然子轩梓涵"
                    "欣怡诺思雨博文晨辰佳琪俊凯婷雪嘉瑞泽宁昊天阳梦瑶建国志海林春兰永福凤德燕"
                    "峰斌波丹慧颖倩亮晓荣庆一可心安乐")

# (province, city, tier, 6-digit administrative code of a central district)
REGIONS: tuple[tuple[str, str, int, int], ...] = (
    ("北京市", "北京市", 1, 110105), ("上海市", "上海市", 1, 310115),
    ("广东省", "广州市", 1, 440106), ("广东省", "深圳市", 1, 440305),
    ("四川省", "成都市", 2, 510107), ("浙江省", "杭州市", 2, 330106),
    ("湖北省", "武汉市", 2, 420106), ("重庆市", "重庆市", 2, 500103),
    ("江苏省", "南京市", 2, 320106), ("天津市", "天津市", 2, 120101),
    ("江苏省", "苏州市", 2, 320505), ("陕西省", "西安市", 2, 610113),
    ("湖南省", "长沙市", 2, 430104), ("河南省", "郑州市", 2, 410105),
    ("山东省", "青岛市", 2, 370202), ("辽宁省", "沈阳市", 2, 210102),
    ("浙江省", "宁波市", 2, 330203), ("云南省", "昆明市", 2, 530102),
    ("福建省", "厦门市", 2, 350203), ("安徽省", "合肥市", 2, 340102),
    ("江苏省", "无锡市", 3, 320202), ("广东省", "佛山市", 3, 440604),
    ("浙江省", "温州市", 3, 330302), ("河北省", "石家庄市", 3, 130102),
    ("广西壮族自治区", "南宁市", 3, 450103), ("江西省", "南昌市", 3, 360102),
    ("贵州省", "贵阳市", 3, 520102), ("山西省", "太原市", 3, 140105),
    ("黑龙江省", "哈尔滨市", 3, 230102), ("吉林省", "长春市", 3, 220102),
    ("福建省", "泉州市", 3, 350502), ("江苏省", "徐州市", 3, 320302),
    ("湖北省", "宜昌市", 4, 420502), ("河南省", "洛阳市", 4, 410302),
    ("山东省", "潍坊市", 4, 370702), ("湖南省", "岳阳市", 4, 430602),
    ("江西省", "赣州市", 4, 360702), ("四川省", "绵阳市", 4, 510703),
    ("安徽省", "芜湖市", 4, 340202), ("广东省", "湛江市", 4, 440802),
    ("河北省", "保定市", 4, 130602), ("内蒙古自治区", "包头市", 4, 150202),
    ("甘肃省", "天水市", 5, 620502), ("河南省", "周口市", 5, 411602),
    ("湖南省", "邵阳市", 5, 430502), ("云南省", "曲靖市", 5, 530302),
    ("四川省", "达州市", 5, 511702), ("陕西省", "汉中市", 5, 610702),
    ("江西省", "上饶市", 5, 361102), ("山西省", "运城市", 5, 140802),
)
REGION_TIER = np.array([r[2] for r in REGIONS])
REGION_CODE = np.array([r[3] for r in REGIONS], dtype=np.int64)
REGION_PROVINCE = np.array([r[0] for r in REGIONS])
REGION_CITY = np.array([r[1] for r in REGIONS])

MOBILE_PREFIXES = np.array([130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 145, 147, 150, 151,
                            152, 153, 155, 156, 157, 158, 159, 166, 170, 171, 173, 175, 176, 177,
                            178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191, 193, 195,
                            196, 197, 198, 199], dtype=np.int64)
DEBIT_BINS = np.array([622202, 621700, 622848, 621226, 621483, 622588, 623668], dtype=np.int64)
CREDIT_BINS = np.array([625907, 622155, 628288, 625965, 622575, 625807], dtype=np.int64)
EMAIL_DOMAINS = np.array(["qq.com", "163.com", "126.com", "sina.com", "foxmail.com",
                          "outlook.com", "139.com"])
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_CHECK_CHARS = np.array(list("10X98765432"))


def names(rng: np.random.Generator, n: int, young: np.ndarray) -> np.ndarray:
    """Full names; younger people more often have two-character given names."""
    rank = np.arange(1, len(SURNAMES) + 1)
    single = np.array(SURNAMES)[rng.choice(len(SURNAMES), size=n, p=(1 / rank) / (1 / rank).sum())]
    compound = np.array(COMPOUND_SURNAMES)[rng.integers(0, len(COMPOUND_SURNAMES), size=n)]
    surname = np.where(rng.random(n) < 0.006, compound, single)
    chars = np.array(GIVEN_CHARS)
    first = chars[rng.integers(0, len(chars), size=n)]
    second = chars[rng.integers(0, len(chars), size=n)]
    two = rng.random(n) < np.where(young, 0.85, 0.6)
    given = np.where(two, np.strings.add(first, second), first)
    return np.asarray(np.strings.add(surname, given))


def id_check_chars(body17: np.ndarray) -> np.ndarray:
    """ISO 7064 MOD 11-2 check characters for 17-digit integer bodies."""
    total = np.zeros(len(body17), dtype=np.int64)
    rest = body17.astype(np.int64).copy()
    for i in range(16, -1, -1):
        total += (rest % 10) * ID_WEIGHTS[i]
        rest //= 10
    return np.asarray(ID_CHECK_CHARS[total % 11])


def id_numbers(rng: np.random.Generator, region_code: np.ndarray, birth: np.ndarray,
               male: np.ndarray) -> np.ndarray:
    """18-character resident ID numbers with birth date, gender parity and check digit."""
    ymd = birth.astype("datetime64[D]").astype(str)
    yyyymmdd = np.strings.replace(ymd, "-", "").astype(np.int64)
    seq = rng.integers(0, 500, size=len(birth)) * 2 + np.where(male, 1, 0)
    body = region_code * 10**11 + yyyymmdd * 1000 + seq
    return np.asarray(np.strings.add(body.astype(str), id_check_chars(body)))


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    prefix = MOBILE_PREFIXES[rng.integers(0, len(MOBILE_PREFIXES), size=n)]
    return np.asarray((prefix * 10**8 + rng.integers(0, 10**8, size=n)).astype(str))


def luhn_check_digits(body: np.ndarray, length: int) -> np.ndarray:
    """Luhn check digit for integer bodies of ``length`` digits."""
    total = np.zeros(len(body), dtype=np.int64)
    rest = body.astype(np.uint64).copy()
    for pos in range(length):  # pos 0 is the right-most body digit, which gets doubled
        d = (rest % np.uint64(10)).astype(np.int64)
        rest //= np.uint64(10)
        if pos % 2 == 0:
            d = d * 2
            d = np.where(d > 9, d - 9, d)
        total += d
    return (10 - total % 10) % 10


def card_numbers(rng: np.random.Generator, n: int, credit: np.ndarray) -> np.ndarray:
    """UnionPay card numbers: 19-digit debit cards and 16-digit credit cards."""
    out = np.empty(n, dtype=object)
    for is_credit, bins, length in ((False, DEBIT_BINS, 19), (True, CREDIT_BINS, 16)):
        idx = np.flatnonzero(credit == is_credit)
        middle_len = length - 7
        bin_ = bins[rng.integers(0, len(bins), size=len(idx))].astype(np.uint64)
        middle = rng.integers(0, 10**middle_len, size=len(idx), dtype=np.int64).astype(np.uint64)
        body = bin_ * np.uint64(10**middle_len) + middle
        check = luhn_check_digits(body, length - 1)
        full = body * np.uint64(10) + check.astype(np.uint64)
        out[idx] = full.astype(str)
    return out.astype(str)


def emails(rng: np.random.Generator, phone: np.ndarray) -> np.ndarray:
    """QQ-number or phone-based addresses, the common styles on the mainland."""
    n = len(phone)
    qq = rng.integers(10**5, 3 * 10**9, size=n).astype(str)
    local = np.where(rng.random(n) < 0.5, qq, phone)
    domain = EMAIL_DOMAINS[rng.integers(0, len(EMAIL_DOMAINS), size=n)]
    domain = np.where(local == qq, np.where(rng.random(n) < 0.8, "qq.com", domain), domain)
    return np.asarray(np.strings.add(np.strings.add(local, "@"), domain))


def device_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """UUID-like device ids (8-4-4-4-12 lower-case hex)."""
    hi = rng.integers(0, 2**63, size=n, dtype=np.int64)
    lo = rng.integers(0, 2**63, size=n, dtype=np.int64)
    hex_hi = np.strings.zfill(np.array([format(v, "x") for v in hi.tolist()]), 16)
    hex_lo = np.strings.zfill(np.array([format(v, "x") for v in lo.tolist()]), 16)
    h = np.strings.add(hex_hi, hex_lo)
    parts = [np.strings.slice(h, a, b) for a, b in ((0, 8), (8, 12), (12, 16), (16, 20),
                                                    (20, 32))]
    out = parts[0]
    for p in parts[1:]:
        out = np.strings.add(np.strings.add(out, "-"), p)
    return np.asarray(out)
