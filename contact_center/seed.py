# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""Synthetic customers for the demo and the benchmarks, and the store-backed seeder.

:func:`generate_customers` is pure and deterministic: the same ``rng_seed`` and
customer numbers always give the same customers, whatever the batch size, because
each customer draws from its own ``random.Random`` seeded by (seed, number). It
produces plain dataclasses: English (US, GB) and Simplified Chinese customers with
E.164 phones valid for their country, unique lower-cased emails on reserved example
domains, account numbers and chat visitor ids; orders (items with SKU and quantity,
amount and margin, over the last two years) from which value tiers emerge; voice,
chat and email interactions with queue/offer/answer/end timestamps that follow one
another, dispositions, some unresolved or still open; chat and email messages in the
customer's language; agent notes.

Every identity value embeds the customer number through a bijection, so customers
with different numbers never share a phone, email, account, visitor id, contact id
or order number: two loads with disjoint number ranges never collide.

:func:`seed_store` writes generated customers through the :class:`ProfileStore`'s
public methods (validated and audit-logged: the demo). The fast path for large
volumes is :func:`contact_center.bulk_load.bulk_load`.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from contact_center.domain.customer import (
    Channel,
    CustomerValue,
    Direction,
    InteractionStatus,
    LifecycleStage,
    MonthTotals,
    compute_value,
    month_index,
    next_lifecycle_stage,
)
from contact_center.domain.identity import IdentityKind
from contact_center.errors import Conflict, InvalidInput
from contact_center.services import SYSTEM, Actor
from contact_center.settings import ValueSettings

if TYPE_CHECKING:
    from contact_center.store.profiles import ProfileStore

DAY = 86_400.0
HISTORY_DAYS = 730  # orders and interactions span the last two years
MAX_CUSTOMERS = 10_000_000  # capacity of every identity bijection below


class InvalidSeedRequest(InvalidInput):
    error_id = "invalid-seed-request"


# ---------------------------------------------------------------------------- data


@dataclasses.dataclass(frozen=True, slots=True)
class SyntheticOrderItem:
    sku: str
    name: str
    quantity: int
    unit_price_cents: int


@dataclasses.dataclass(frozen=True, slots=True)
class SyntheticOrder:
    source: str
    external_id: str
    amount_cents: int
    margin_cents: int
    currency: str
    items: tuple[SyntheticOrderItem, ...]
    status: str  # completed | shipped | processing | refunded | cancelled
    ordered_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class SyntheticMessage:
    direction: Direction
    sender: str
    subject: str | None
    body: str
    created_at: float
    external_id: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class SyntheticNote:
    body: str
    created_at: float
    agent: int | None  # index into the agent roster (see :func:`agent_roster`)


@dataclasses.dataclass(frozen=True, slots=True)
class SyntheticInteraction:
    contact_id: str
    channel: Channel
    direction: Direction
    status: InteractionStatus
    queue: str | None
    agent: int | None  # index into the agent roster
    started_at: float
    queued_at: float | None
    offered_at: float | None
    answered_at: float | None
    ended_at: float | None
    disposition: str | None
    resolved: bool
    # Started within the repeat window after an unresolved interaction (the store's rule).
    repeat_contact: bool
    subject: str | None
    notes: str | None  # the agent's wrap-up text
    summary: str | None
    external_ids: tuple[tuple[str, str], ...]
    messages: tuple[SyntheticMessage, ...]
    note_items: tuple[SyntheticNote, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class SyntheticCustomer:
    number: int
    display_name: str
    language: str  # "en" or "zh-CN"
    locale: str  # Faker locale the name came from
    country: str  # US, GB, CN
    timezone: str
    identities: tuple[tuple[IdentityKind, str], ...]
    # Set by people (advocate, partner) or the starting stage; orders move it forward.
    initial_stage: LifecycleStage
    owner_agent: int | None
    tags: tuple[str, ...]
    attributes: tuple[tuple[str, str], ...]
    consent: tuple[tuple[str, bool], ...]
    created_at: float
    orders: tuple[SyntheticOrder, ...]
    interactions: tuple[SyntheticInteraction, ...]
    notes: tuple[SyntheticNote, ...]  # about the customer, not one interaction

    def identity_values(self, kind: IdentityKind) -> list[str]:
        return [value for k, value in self.identities if k is kind]


@dataclasses.dataclass(frozen=True, slots=True)
class SeedShape:
    """How much to generate per customer."""

    # Interactions per customer, inclusive range; (M, M) gives exactly M each.
    interactions: tuple[int, int] = (0, 14)
    chinese_share: float = 0.3
    british_share: float = 0.25
    agents: int = 12
    repeat_contact_days: int = 7

    def __post_init__(self) -> None:
        low, high = self.interactions
        if not 0 <= low <= high <= 1000:
            raise InvalidSeedRequest("interactions must be a range 0 <= low <= high <= 1000")
        if not 0 <= self.chinese_share <= 1 or not 0 <= self.british_share <= 1:
            raise InvalidSeedRequest("language shares must be between 0 and 1")
        if self.chinese_share + self.british_share > 1:
            raise InvalidSeedRequest("chinese_share + british_share must not exceed 1")
        if not 1 <= self.agents <= 1000:
            raise InvalidSeedRequest("agents must be between 1 and 1000")
        if self.repeat_contact_days < 1:
            raise InvalidSeedRequest("repeat_contact_days must be at least 1")


# ------------------------------------------------------------------- name pools


@cache
def _name_pool(locale: str) -> tuple[tuple[str, str], ...]:
    """(given, family) pairs drawn once from Faker with a fixed seed.

    Calling Faker per customer costs ~50-100 us; combining pooled given and family
    names keeps generation fast while the names still follow Faker's frequencies.
    """
    from faker import Faker

    faker = Faker(locale)
    faker.seed_instance(20_240_601)
    return tuple((faker.first_name(), faker.last_name()) for _ in range(3000))


@cache
def _city_pool(locale: str) -> tuple[str, ...]:
    from faker import Faker

    faker = Faker(locale)
    faker.seed_instance(20_240_602)
    return tuple(faker.city() for _ in range(300))


@cache
def agent_roster(count: int) -> tuple[tuple[str, str], ...]:
    """(username, display name) of the agents synthetic interactions are assigned to.

    Interactions and notes refer to agents by index into this roster; whoever writes
    them maps the index to a real user id (the demo creates these users).
    """
    pool = _name_pool("en_US")
    roster: list[tuple[str, str]] = []
    for index in range(count):
        given, family = pool[(index * 7 + 3) % len(pool)]
        roster.append((f"agent{index + 1:03d}", f"{given} {family}"))
    return tuple(roster)


# ------------------------------------------------------------ identity bijections

# Phone number ranges valid for their country (checked with phonenumbers in tests).
_US_AREAS = (
    "201",
    "202",
    "203",
    "206",
    "212",
    "213",
    "214",
    "215",
    "217",
    "301",
    "303",
    "305",
    "310",
    "312",
    "313",
    "314",
    "404",
    "407",
    "408",
    "410",
    "412",
    "415",
    "469",
    "503",
    "512",
    "602",
    "617",
    "619",
    "646",
    "678",
    "702",
    "704",
    "713",
    "718",
    "720",
    "727",
    "773",
    "801",
    "804",
    "813",
    "832",
    "858",
    "904",
    "916",
    "917",
    "919",
    "949",
    "952",
    "971",
    "972",
)
_US_EXCHANGES = tuple(
    str(e) for e in range(200, 1000) if str(e)[1:] != "11" and e not in (555, 950, 958, 959, 976)
)
_US_PREFIXES = tuple(a + e for a in _US_AREAS for e in _US_EXCHANGES)  # + 4 digits
_GB_MOBILE = tuple(
    str(p) for p in (*range(740, 760), *range(771, 780), *range(780, 800))
)  # + 7 digits
_GB_LANDLINE = ("203", "207", "208")  # London, + 7 digits
_CN_MOBILE = tuple(
    str(p)
    for p in (*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, *range(180, 190))
)  # + 8 digits
_CN_LANDLINE = tuple(f"{area}{first}" for area in ("10", "21") for first in "234567")  # + 7

_PHONE_PLANS: dict[tuple[str, int], tuple[str, tuple[str, ...], int]] = {
    # (country, line) -> (calling code, prefixes, digits after the prefix)
    ("US", 0): ("1", _US_PREFIXES, 4),
    ("US", 1): ("1", _US_PREFIXES, 4),
    ("GB", 0): ("44", _GB_MOBILE, 7),
    ("GB", 1): ("44", _GB_LANDLINE, 7),
    ("CN", 0): ("86", _CN_MOBILE, 8),
    ("CN", 1): ("86", _CN_LANDLINE, 7),
}
_PERMUTE = 1_000_003  # prime multiplier: n -> (n * P + offset) mod capacity is a bijection


def phone_for(country: str, number: int, line: int) -> str:
    """The E.164 phone of customer ``number`` (line 0: mobile, 1: landline).

    Bijective in ``number`` for one (country, line): distinct customers never share a
    phone. US lines 0 and 1 share one range, so line 1 uses the upper half of it.
    """
    code, prefixes, digits = _PHONE_PLANS[(country, line)]
    capacity = len(prefixes) * 10**digits
    key = number
    if country == "US":
        key = number * 2 + line
    if key >= capacity:
        raise InvalidSeedRequest(f"customer number {number} exceeds the {country} phone range")
    slot = (key * _PERMUTE + 7919) % capacity
    prefix, rest = divmod(slot, 10**digits)
    return f"+{code}{prefixes[prefix]}{rest:0{digits}d}"


def visitor_id_for(number: int) -> str:
    # Odd multiplier modulo 2**48: a bijection that does not look sequential.
    return f"web-{(number * 0x9E3779B97F4B) % (1 << 48):012x}"


def account_for(number: int) -> str:
    return f"AC{(number * 7_654_321 + 1_000_003) % 10**10:010d}"


_NON_HANDLE = re.compile(r"[^a-z0-9]+")


def email_for(locale: str, given: str, family: str, number: int) -> str:
    """Unique because the customer number ends the handle and names hold no digits."""
    if locale == "zh_CN":
        # Reserved .example TLD (RFC 6761); pinyin-free ascii handle.
        return f"user{number}@cn.example"
    domain = ("example.com", "example.org", "example.net")[number % 3]
    first = _NON_HANDLE.sub("", given.lower()) or "customer"
    last = _NON_HANDLE.sub("", family.lower()) or "x"
    return f"{first}.{last}{number}@{domain}"


# --------------------------------------------------------------------- catalogue

_PRODUCTS: tuple[tuple[str, str, str, int], ...] = (
    # sku, English name, Chinese name, unit price in cents
    ("SKU-1001", "Wireless earbuds", "无线耳机", 7_999),
    ("SKU-1002", "Noise-cancelling headphones", "降噪耳机", 29_900),
    ("SKU-1003", "Smartphone case", "手机壳", 1_999),
    ("SKU-1004", "USB-C charger 65W", "65W USB-C 充电器", 4_499),
    ("SKU-1005", "Fitness tracker", "运动手环", 12_900),
    ("SKU-1006", "Smart watch", "智能手表", 34_900),
    ("SKU-1007", "Tablet 11-inch", "11英寸平板电脑", 64_900),
    ("SKU-1008", "Laptop 14-inch", "14英寸笔记本电脑", 129_900),
    ("SKU-1009", "Mechanical keyboard", "机械键盘", 10_900),
    ("SKU-1010", "Wireless mouse", "无线鼠标", 3_999),
    ("SKU-1011", "4K monitor 27-inch", "27英寸4K显示器", 44_900),
    ("SKU-1012", "Portable SSD 1TB", "1TB 移动固态硬盘", 11_900),
    ("SKU-1013", "Coffee machine", "咖啡机", 24_900),
    ("SKU-1014", "Air purifier", "空气净化器", 19_900),
    ("SKU-1015", "Robot vacuum", "扫地机器人", 39_900),
    ("SKU-1016", "Electric toothbrush", "电动牙刷", 6_999),
    ("SKU-1017", "Desk lamp", "台灯", 2_999),
    ("SKU-1018", "Office chair", "办公椅", 27_900),
    ("SKU-1019", "Extended warranty (2 years)", "两年延保服务", 9_900),
    ("SKU-1020", "Camera mirrorless kit", "微单相机套机", 159_900),
)

_TOPICS: tuple[str, ...] = (
    "delivery",
    "refund",
    "invoice",
    "product",
    "upgrade",
    "technical",
    "returns",
    "account",
    "complaint",
)
_TOPIC_WEIGHTS = (18, 10, 10, 14, 8, 14, 8, 10, 8)
_ORDER_TOPICS = frozenset({"delivery", "refund", "invoice", "returns", "complaint"})
_NO_ORDER_TOPICS = tuple(t for t in _TOPICS if t not in _ORDER_TOPICS)
_TOPIC_QUEUE = {
    "delivery": "support",
    "refund": "billing",
    "invoice": "billing",
    "product": "sales",
    "upgrade": "sales",
    "technical": "technical",
    "returns": "returns",
    "account": "support",
    "complaint": "support",
}
_RESOLVED_DISPOSITIONS = {
    "delivery": ("resolved", "replacement-sent"),
    "refund": ("refund-issued", "resolved"),
    "invoice": ("information-given", "resolved"),
    "product": ("sale", "information-given", "no-sale"),
    "upgrade": ("sale", "no-sale"),
    "technical": ("resolved", "information-given"),
    "returns": ("return-authorised", "resolved"),
    "account": ("resolved", "password-reset"),
    "complaint": ("resolved", "goodwill-credit"),
}
_UNRESOLVED_DISPOSITIONS = ("follow-up", "escalated", "callback-requested")

# Per language: topic -> (subject, customer opening, agent reply, customer follow-up,
# agent closing). Placeholders: {name} {order} {product} {agent} {amount}.
_LINES: dict[str, dict[str, tuple[str, str, str, str, str]]] = {
    "en": {
        "delivery": (
            "Where is my order {order}?",
            "Hi, my order {order} was due three days ago and the tracking has not moved.",
            "Hello {name}, I'm sorry about the delay. I can see {order} left our warehouse; "
            "I've asked the carrier to investigate.",
            "Thanks. Can you let me know when it will arrive? I need the {product} this week.",
            "The carrier confirms delivery tomorrow before 6 pm. I've added priority handling.",
        ),
        "refund": (
            "Refund for order {order}",
            "Hello, I returned the {product} from order {order} two weeks ago and still have "
            "no refund.",
            "Hi {name}, thanks for your patience. The return was received and the refund of "
            "{amount} is being processed.",
            "How long until I see the money on my card?",
            "Refunds reach your card within 3-5 working days. You will get a confirmation email.",
        ),
        "invoice": (
            "Invoice request for {order}",
            "Could you send me a VAT invoice for order {order}? Our finance team needs it.",
            "Of course {name}, I have generated the invoice for {order} and sent it to your "
            "email address.",
            "Got it, but the company name is wrong on the invoice.",
            "I've corrected the company name and issued a new invoice; the old one is void.",
        ),
        "product": (
            "Question about the {product}",
            "Hi, does the {product} work with my current setup? I want to be sure before ordering.",
            "Hello {name}, yes it is fully compatible. Would you like me to reserve one for you?",
            "Is there a discount if I buy two?",
            "I can offer 10% off a second unit today. I've sent the offer to your inbox.",
        ),
        "upgrade": (
            "Upgrade options",
            "I'd like to upgrade my {product}. What are my options?",
            "Hi {name}, you qualify for our trade-in programme: we can take the old one back "
            "against the new model.",
            "What would the trade-in value be?",
            "Your trade-in value is {amount}. I've put the quote on your account.",
        ),
        "technical": (
            "{product} stopped working",
            "My {product} keeps restarting since the last update. I've tried turning it off "
            "and on.",
            "Hello {name}, sorry to hear that. Please hold the power button for 15 seconds to "
            "reset it, then try again.",
            "That worked for a while but it happened again.",
            "I've logged a fault report and we'll send a replacement {product} under warranty.",
        ),
        "returns": (
            "Return for order {order}",
            "I want to return the {product} from order {order}, it is not what I expected.",
            "No problem {name}, I've created a return label for {order}. You'll find it in your "
            "email.",
            "Do I need the original box?",
            "The original box is preferred but not required. Any sturdy packaging is fine.",
        ),
        "account": (
            "Cannot log in to my account",
            "I can't log in, the password reset email never arrives.",
            "Hi {name}, I've verified your identity and sent a new reset link. Please check "
            "your spam folder too.",
            "Found it, thanks. Can I also change my email address?",
            "Done, your account now uses the new address. You'll get a confirmation.",
        ),
        "complaint": (
            "Complaint about my recent order",
            "I'm very unhappy: the {product} arrived damaged and nobody answered my last email.",
            "Dear {name}, I apologise for this experience. I'm arranging a replacement and a "
            "goodwill credit.",
            "I expect this to be sorted quickly this time.",
            "The replacement ships today by express and a credit of {amount} is on your account.",
        ),
    },
    "zh-CN": {
        "delivery": (
            "我的订单{order}在哪里？",
            "您好，我的订单{order}三天前就应该到了，物流信息一直没有更新。",
            "{name}您好，非常抱歉耽误了。我看到{order}已经从仓库发出，已请快递公司核查。",
            "谢谢。能告诉我什么时候能到吗？这周我需要用{product}。",
            "快递公司确认明天下午六点前送达，我已为您安排优先处理。",
        ),
        "refund": (
            "订单{order}的退款",
            "您好，我两周前退回了订单{order}里的{product}，到现在还没收到退款。",
            "{name}您好，感谢您的耐心等待。退货已收到，{amount}的退款正在处理中。",
            "退款多久能到账？",
            "退款将在3到5个工作日内退回您的银行卡，届时会收到确认邮件。",
        ),
        "invoice": (
            "申请订单{order}的发票",
            "请帮我开一张订单{order}的增值税发票，公司财务需要。",
            "好的{name}，{order}的发票已经开好并发送到您的邮箱。",
            "收到了，但是发票上的公司名称写错了。",
            "已更正公司名称并重新开具发票，原发票作废。",
        ),
        "product": (
            "关于{product}的咨询",
            "您好，{product}和我现在的设备兼容吗？下单前想确认一下。",
            "{name}您好，完全兼容。需要我帮您预留一台吗？",
            "买两台有优惠吗？",
            "今天购买第二台可以享受九折，优惠已发送到您的邮箱。",
        ),
        "upgrade": (
            "升级方案咨询",
            "我想升级我的{product}，有哪些方案？",
            "{name}您好，您符合以旧换新条件，旧机可以抵扣新机型的价格。",
            "旧机能抵多少钱？",
            "您的旧机估价为{amount}，报价已保存在您的账户里。",
        ),
        "technical": (
            "{product}无法正常使用",
            "上次更新后我的{product}一直自动重启，开关机也试过了。",
            "{name}您好，很抱歉给您带来不便。请长按电源键15秒重置后再试一下。",
            "好了一会儿，又出现同样的问题。",
            "已为您登记故障报告，我们会在保修范围内给您寄送一台新的{product}。",
        ),
        "returns": (
            "订单{order}退货",
            "我想退订单{order}里的{product}，和我预期的不一样。",
            "没问题{name}，已为{order}生成退货标签，请查收邮件。",
            "需要原包装盒吗？",
            "最好使用原包装，但不是必须的，结实的包装即可。",
        ),
        "account": (
            "无法登录账户",
            "我登录不了，重置密码的邮件一直收不到。",
            "{name}您好，已核实您的身份并重新发送了重置链接，请也检查一下垃圾邮件。",
            "找到了，谢谢。我还能修改邮箱地址吗？",
            "已修改完成，您的账户现在使用新邮箱，稍后会收到确认。",
        ),
        "complaint": (
            "对最近订单的投诉",
            "我非常不满意：{product}到货时已经损坏，上次发邮件也没人回复。",
            "尊敬的{name}，对此深表歉意。我正在为您安排换货并补偿一张代金券。",
            "希望这次能尽快解决。",
            "换货今天以特快寄出，{amount}的补偿已存入您的账户。",
        ),
    },
}

_WRAP_UP: dict[str, dict[bool, tuple[str, ...]]] = {
    "en": {
        True: (
            "Customer satisfied, issue closed.",
            "Explained the options; customer happy with the outcome.",
            "Resolved on first contact.",
            "Confirmed details by email after the call.",
        ),
        False: (
            "Waiting for the warehouse to confirm; call the customer back.",
            "Escalated to second line, ticket raised.",
            "Customer wants a supervisor to call back tomorrow.",
            "Needs a follow-up once the carrier replies.",
        ),
    },
    "zh-CN": {
        True: (
            "客户满意，问题已关闭。",
            "已说明可选方案，客户对结果满意。",
            "首次联系即解决。",
            "通话后已通过邮件确认细节。",
        ),
        False: (
            "等待仓库确认，需回电客户。",
            "已升级到二线支持并创建工单。",
            "客户希望主管明天回电。",
            "快递公司回复后需要跟进。",
        ),
    },
}
_CUSTOMER_NOTES: dict[str, tuple[str, ...]] = {
    "en": (
        "Prefers to be contacted by email.",
        "Best reached in the afternoon.",
        "Key account: involve the account manager on billing questions.",
        "Has complained about delivery times before; handle with care.",
        "Interested in the business plan; follow up next quarter.",
    ),
    "zh-CN": (
        "客户偏好邮件联系。",
        "下午比较方便接听电话。",
        "重点客户：账单问题请联系客户经理。",
        "之前投诉过配送时效，请耐心处理。",
        "对企业版感兴趣，下季度跟进。",
    ),
}
_SUMMARIES: dict[str, str] = {
    "en": "{topic}: {disposition}.",
    "zh-CN": "{topic}：{disposition}。",
}
_TOPIC_LABELS: dict[str, dict[str, str]] = {
    "en": {t: t.capitalize() for t in _TOPICS},
    "zh-CN": {
        "delivery": "物流",
        "refund": "退款",
        "invoice": "发票",
        "product": "产品咨询",
        "upgrade": "升级",
        "technical": "技术支持",
        "returns": "退货",
        "account": "账户",
        "complaint": "投诉",
    },
}

_COUNTRIES = {
    # country -> (locale, language, timezone, source currency)
    "US": ("en_US", "en", "America/New_York", "USD"),
    "GB": ("en_GB", "en", "Europe/London", "GBP"),
    "CN": ("zh_CN", "zh-CN", "Asia/Shanghai", "USD"),
}
_US_TIMEZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")


# -------------------------------------------------------------------- generation


def generate_customers(
    count: int,
    *,
    rng_seed: int,
    now: float,
    first_number: int = 1,
    shape: SeedShape | None = None,
) -> Iterator[SyntheticCustomer]:
    """Customers numbered ``first_number .. first_number + count - 1`` (lazily).

    The arguments are checked now; customers are made as they are iterated.
    """
    if count < 0:
        raise InvalidSeedRequest("count must not be negative")
    if first_number < 1 or first_number + count - 1 > MAX_CUSTOMERS:
        raise InvalidSeedRequest(f"customer numbers must lie between 1 and {MAX_CUSTOMERS}")
    if not math.isfinite(now) or now <= HISTORY_DAYS * DAY:
        raise InvalidSeedRequest("now must be a Unix time after 1972")
    chosen = shape or SeedShape()
    return (
        generate_customer(number, rng_seed=rng_seed, now=now, shape=chosen)
        for number in range(first_number, first_number + count)
    )


def generate_customer(
    number: int, *, rng_seed: int, now: float, shape: SeedShape
) -> SyntheticCustomer:
    # A per-customer generator: customer N is the same whatever the batch it is made in.
    rng = random.Random(rng_seed * 1_000_003 + number)
    roll = rng.random()
    if roll < shape.chinese_share:
        country = "CN"
    elif roll < shape.chinese_share + shape.british_share:
        country = "GB"
    else:
        country = "US"
    locale, language, timezone, currency = _COUNTRIES[country]
    if country == "US":
        timezone = rng.choice(_US_TIMEZONES)
    given, family = _pick_name(rng, locale)
    display_name = f"{family}{given}" if locale == "zh_CN" else f"{given} {family}"

    identities: list[tuple[IdentityKind, str]] = [
        (IdentityKind.PHONE, phone_for(country, number, 0))
    ]
    if rng.random() < 0.35:
        identities.append((IdentityKind.PHONE, phone_for(country, number, 1)))
    identities.append((IdentityKind.EMAIL, email_for(locale, given, family, number)))
    if rng.random() < 0.6:
        identities.append((IdentityKind.ACCOUNT, account_for(number)))

    created_floor = now - (HISTORY_DAYS + 200) * DAY
    created_at = round(created_floor + rng.random() * (HISTORY_DAYS + 170) * DAY, 3)
    orders = _orders(rng, number, country, currency, created_at, now)
    big_spender = sum(o.amount_cents for o in orders if o.status != "cancelled") > 1_500_000
    owner = rng.randrange(shape.agents) if big_spender and rng.random() < 0.7 else None

    interactions = _interactions(
        rng, number, language, display_name, identities, orders, created_at, now, shape
    )
    if any(i.channel is Channel.CHAT for i in interactions) or rng.random() < 0.1:
        identities.append((IdentityKind.CHAT, visitor_id_for(number)))

    stage_roll = rng.random()
    stage = (
        LifecycleStage.PARTNER
        if stage_roll < 0.01
        else LifecycleStage.ADVOCATE
        if stage_roll < 0.04
        else LifecycleStage.PROSPECT
    )
    tags = _tags(rng, big_spender, stage)
    city = rng.choice(_city_pool(locale))
    attributes: list[tuple[str, str]] = [("city", city), ("country", country)]
    if "b2b" in tags:
        attributes.append(("company", f"{family} {'Ltd' if country == 'GB' else 'Inc.'}"))
    marketing = rng.random() < 0.45
    consent = (
        ("email", True),
        ("marketing", marketing),
        ("recording", rng.random() < 0.9),
        ("voice", True),
    )
    customer_notes = tuple(
        SyntheticNote(
            body=rng.choice(_CUSTOMER_NOTES[language]),
            created_at=round(created_at + rng.random() * (now - created_at), 3),
            agent=rng.randrange(shape.agents),
        )
        for _ in range(1 if rng.random() < 0.15 else 0)
    )
    return SyntheticCustomer(
        number=number,
        display_name=display_name,
        language=language,
        locale=locale,
        country=country,
        timezone=timezone,
        identities=tuple(identities),
        initial_stage=stage,
        owner_agent=owner,
        tags=tags,
        attributes=tuple(attributes),
        consent=consent,
        created_at=created_at,
        orders=orders,
        interactions=interactions,
        notes=customer_notes,
    )


def _pick_name(rng: random.Random, locale: str) -> tuple[str, str]:
    pool = _name_pool(locale)
    # Given and family name from two independent pool entries: far more combinations.
    return pool[rng.randrange(len(pool))][0], pool[rng.randrange(len(pool))][1]


def _tags(rng: random.Random, big_spender: bool, stage: LifecycleStage) -> tuple[str, ...]:
    tags: list[str] = []
    if rng.random() < 0.12:
        tags.append("b2b")
    if rng.random() < 0.3:
        tags.append("newsletter")
    if big_spender:
        tags.append("high-value")
    if stage is LifecycleStage.PARTNER:
        tags.append("partner-programme")
    return tuple(sorted(tags))


def _orders(
    rng: random.Random,
    number: int,
    country: str,
    currency: str,
    created_at: float,
    now: float,
) -> tuple[SyntheticOrder, ...]:
    # A long tail: many prospects with no order, most with a few, some heavy buyers.
    roll = rng.random()
    if roll < 0.22:
        count = 0
    elif roll < 0.9:
        count = 1 + int(rng.expovariate(1 / 2.5))
    else:
        count = 5 + int(rng.expovariate(1 / 8))
    count = min(count, 60)
    start = max(created_at, now - HISTORY_DAYS * DAY)
    span = max(now - 3600 - start, 3600.0)
    times = sorted(round(start + rng.random() * span, 3) for _ in range(count))
    result: list[SyntheticOrder] = []
    for index, ordered_at in enumerate(times):
        items: list[SyntheticOrderItem] = []
        for _ in range(1 + int(rng.expovariate(1 / 0.7))):
            sku, name_en, name_zh, price = _PRODUCTS[rng.randrange(len(_PRODUCTS))]
            quantity = 1 if rng.random() < 0.8 else rng.randint(2, 4)
            items.append(
                SyntheticOrderItem(sku, name_zh if country == "CN" else name_en, quantity, price)
            )
        amount = sum(i.unit_price_cents * i.quantity for i in items)
        margin = round(amount * (0.12 + rng.random() * 0.3))
        age_days = (now - ordered_at) / DAY
        status_roll = rng.random()
        if age_days < 3 and status_roll < 0.6:
            status = "processing"
        elif age_days < 10 and status_roll < 0.5:
            status = "shipped"
        elif status_roll < 0.03:
            status = "cancelled"
        elif status_roll < 0.06:
            status = "refunded"
        else:
            status = "completed"
        result.append(
            SyntheticOrder(
                source="webshop" if country != "GB" else "webshop-uk",
                external_id=f"SO-{number}-{index + 1:03d}",
                amount_cents=amount,
                margin_cents=margin,
                currency=currency,
                items=tuple(items),
                status=status,
                ordered_at=ordered_at,
            )
        )
    return tuple(result)


def _interaction_times(
    rng: random.Random, count: int, created_at: float, now: float
) -> list[float]:
    start = max(created_at, now - HISTORY_DAYS * DAY)
    latest = now - 3 * 3600  # room for the longest contact to end before now
    span = max(latest - start, 3600.0)
    times = sorted(start + rng.random() * span for _ in range(count))
    # A quarter of contacts are follow-ups within days of the previous one.
    for i in range(1, count):
        if rng.random() < 0.25:
            follow = times[i - 1] + rng.uniform(0.2, 5.0) * DAY
            if follow < latest:
                times[i] = follow
    return sorted(round(t, 3) for t in times)


def _interactions(
    rng: random.Random,
    number: int,
    language: str,
    display_name: str,
    identities: Sequence[tuple[IdentityKind, str]],
    orders: Sequence[SyntheticOrder],
    created_at: float,
    now: float,
    shape: SeedShape,
) -> tuple[SyntheticInteraction, ...]:
    low, high = shape.interactions
    count = low if low == high else rng.randint(low, high)
    if count == 0:
        return ()
    # Channel preference varies per customer.
    voice_w, chat_w, email_w = rng.choice(((6, 2, 2), (3, 5, 2), (3, 2, 5), (5, 3, 2)))
    email = next(v for k, v in identities if k is IdentityKind.EMAIL)
    window = shape.repeat_contact_days * DAY
    order_times = [o.ordered_at for o in orders]  # sorted: orders are generated in time order
    unresolved: list[float] = []  # start times of earlier unresolved interactions
    result: list[SyntheticInteraction] = []
    for index, started_at in enumerate(_interaction_times(rng, count, created_at, now)):
        channel_roll = rng.random() * (voice_w + chat_w + email_w)
        channel = (
            Channel.VOICE
            if channel_roll < voice_w
            else Channel.CHAT
            if channel_roll < voice_w + chat_w
            else Channel.EMAIL
        )
        repeat = any(t >= started_at - window for t in unresolved)
        interaction = _interaction(
            rng,
            f"seed-{number}-{index + 1}",
            channel,
            language,
            display_name,
            email,
            orders,
            order_times,
            started_at,
            now,
            repeat,
            shape.agents,
        )
        if not interaction.resolved:
            unresolved.append(started_at)
        result.append(interaction)
    return tuple(result)


def _interaction(
    rng: random.Random,
    contact_id: str,
    channel: Channel,
    language: str,
    display_name: str,
    email: str,
    orders: Sequence[SyntheticOrder],
    order_times: Sequence[float],
    started_at: float,
    now: float,
    repeat: bool,
    agents: int,
) -> SyntheticInteraction:
    # Order-related topics only about orders placed before the contact.
    placed = bisect.bisect_left(order_times, started_at)
    topic = rng.choices(
        _TOPICS if placed else _NO_ORDER_TOPICS, _TOPIC_WEIGHTS if placed else None
    )[0]
    order = orders[rng.randrange(placed)] if placed and topic in _ORDER_TOPICS else None
    if order is not None:
        item = order.items[0]
        product = item.name
    else:
        _sku, name_en, name_zh, _price = _PRODUCTS[rng.randrange(len(_PRODUCTS))]
        product = name_zh if language == "zh-CN" else name_en
    agent = rng.randrange(agents)
    agent_name = agent_roster(agents)[agent][1]
    amount_cents = order.amount_cents if order is not None else 4_999
    symbol = "£" if order is not None and order.currency == "GBP" else "$"
    fill = {
        "name": display_name,
        "order": order.external_id if order is not None else "SO-0000",
        "product": product,
        "agent": agent_name,
        "amount": f"{symbol}{amount_cents / 100:,.2f}",
    }
    subject_t, opening_t, reply_t, follow_t, closing_t = _LINES[language][topic]
    subject = subject_t.format_map(fill)
    queue: str | None = _TOPIC_QUEUE[topic]
    direction = Direction.INBOUND
    queued_at = offered_at = answered_at = ended_at = None
    status = InteractionStatus.CLOSED
    messages: list[SyntheticMessage] = []
    assigned: int | None = agent
    age = now - started_at
    recent = age < 14 * DAY

    if channel is Channel.VOICE:
        direction = Direction.OUTBOUND if rng.random() < 0.2 else Direction.INBOUND
        if direction is Direction.OUTBOUND:
            queue = None if rng.random() < 0.5 else queue
            if rng.random() < 0.75:
                answered_at = started_at + rng.uniform(4, 25)
                ended_at = answered_at + min(rng.lognormvariate(5.0, 0.7), 3600)
                outcome = "answered"
            else:
                ended_at = started_at + rng.uniform(20, 45)
                outcome = "no-answer"
        else:
            queued_at = started_at + rng.uniform(3, 40)  # IVR menu
            wait = rng.expovariate(1 / 35)
            if rng.random() < 0.06:
                ended_at = queued_at + min(wait * 3 + 5, 1200)
                outcome = "abandoned"
                assigned = None
            else:
                offered_at = queued_at + min(wait, 1800)
                answered_at = offered_at + rng.uniform(1.5, 12)
                ended_at = answered_at + min(rng.lognormvariate(5.3, 0.8), 3600)
                outcome = "answered"
    elif channel is Channel.CHAT:
        queued_at = started_at + rng.uniform(1, 15)  # pre-chat form
        wait = rng.expovariate(1 / 40)
        messages.append(
            _message(Direction.INBOUND, display_name, None, opening_t, fill, started_at)
        )
        if rng.random() < 0.05:
            ended_at = queued_at + min(wait * 2 + 10, 900)
            outcome = "abandoned"
            assigned = None
        else:
            offered_at = queued_at + min(wait, 900)
            answered_at = offered_at + rng.uniform(1, 8)
            at = answered_at + rng.uniform(5, 40)
            messages.append(_message(Direction.OUTBOUND, agent_name, None, reply_t, fill, at))
            if rng.random() < 0.6:
                at += rng.uniform(20, 180)
                messages.append(_message(Direction.INBOUND, display_name, None, follow_t, fill, at))
                at += rng.uniform(10, 120)
                messages.append(_message(Direction.OUTBOUND, agent_name, None, closing_t, fill, at))
            ended_at = at + rng.uniform(10, 120)
            outcome = "answered"
    else:
        message_id = f"<{contact_id}.{int(started_at)}@mail.example.com>"
        if rng.random() < 0.15:
            direction = Direction.OUTBOUND
            answered_at = started_at
            ended_at = started_at + rng.uniform(60, 600)
            messages.append(
                SyntheticMessage(
                    Direction.OUTBOUND,
                    "support@example.com",
                    subject,
                    reply_t.format_map(fill),
                    round(ended_at, 3),
                    message_id,
                )
            )
            outcome = "answered"
        else:
            messages.append(
                SyntheticMessage(
                    Direction.INBOUND,
                    email,
                    subject,
                    opening_t.format_map(fill),
                    round(started_at, 3),
                    message_id,
                )
            )
            queued_at = started_at + rng.uniform(0.2, 2)
            if age < 3 * DAY and rng.random() < 0.5:
                # Still waiting in the email queue: nobody has picked it up yet.
                outcome = "waiting"
                assigned = None
            else:
                # Capped so the reply is sent before ``now``.
                longest = max(1.0, now - queued_at - 1200)
                offered_at = queued_at + min(rng.expovariate(1 / 7200), longest)
                answered_at = offered_at + rng.uniform(5, 120)
                ended_at = answered_at + rng.uniform(120, 900)
                messages.append(
                    SyntheticMessage(
                        Direction.OUTBOUND,
                        "support@example.com",
                        "Re: " + subject,
                        reply_t.format_map(fill),
                        round(ended_at, 3),
                        f"<reply.{contact_id}.{int(ended_at)}@mail.example.com>",
                    )
                )
                outcome = "answered"

    # Outcome -> disposition, resolution and status.
    if outcome == "abandoned":
        disposition, resolved = "abandoned", False
    elif outcome == "no-answer":
        disposition, resolved = rng.choice(("no-answer", "voicemail")), False
    elif outcome == "waiting":
        disposition, resolved, status = None, False, InteractionStatus.OPEN
    elif rng.random() < 0.18:
        disposition, resolved = rng.choice(_UNRESOLVED_DISPOSITIONS), False
        if recent and rng.random() < 0.5:
            status = InteractionStatus.OPEN  # the case stays open for the follow-up
    else:
        disposition, resolved = rng.choice(_RESOLVED_DISPOSITIONS[topic]), True

    wrap_up: str | None = None
    summary: str | None = None
    note_items: tuple[SyntheticNote, ...] = ()
    if outcome == "answered":
        if rng.random() < 0.5:
            wrap_up = rng.choice(_WRAP_UP[language][resolved])
        if rng.random() < 0.3:
            summary = _SUMMARIES[language].format(
                topic=_TOPIC_LABELS[language][topic], disposition=disposition
            )
        if rng.random() < 0.3 and ended_at is not None:
            note_items = (
                SyntheticNote(
                    body=rng.choice(_WRAP_UP[language][resolved]),
                    created_at=round(min(ended_at + rng.uniform(5, 120), now), 3),
                    agent=assigned,
                ),
            )

    external: tuple[tuple[str, str], ...]
    if channel is Channel.VOICE:
        external = (("asterisk_linkedid", f"{started_at:.6f}"[:-2]),)
    elif channel is Channel.CHAT:
        external = (("chat_session_id", f"chat-{contact_id}"),)
    else:
        external = (("email_message_id", messages[0].external_id or ""),)

    return SyntheticInteraction(
        contact_id=contact_id,
        channel=channel,
        direction=direction,
        status=status,
        queue=queue,
        agent=assigned,
        started_at=started_at,
        queued_at=_r(queued_at),
        offered_at=_r(offered_at),
        answered_at=_r(answered_at),
        ended_at=_r(ended_at),
        disposition=disposition,
        resolved=resolved,
        repeat_contact=repeat,
        subject=subject,
        notes=wrap_up,
        summary=summary,
        external_ids=external,
        messages=tuple(messages),
        note_items=note_items,
    )


def _message(
    direction: Direction,
    sender: str,
    subject: str | None,
    template: str,
    fill: Mapping[str, str],
    at: float,
) -> SyntheticMessage:
    return SyntheticMessage(
        direction, sender, subject, template.format_map(fill), round(at, 3), None
    )


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# ------------------------------------------------------------------ derived value


@dataclasses.dataclass(frozen=True, slots=True)
class DerivedValue:
    """What the profile store computes from a customer's orders and contacts."""

    months: tuple[MonthTotals, ...]
    value: CustomerValue
    lifetime_spend_cents: int
    lifetime_orders: int
    last_order_at: float | None
    lifecycle_stage: str
    last_contact_at: float | None
    repeat_contact: bool


def derive_value(
    customer: SyntheticCustomer, *, now: float, settings: ValueSettings
) -> DerivedValue:
    """The value figures, lifecycle and contact flags the store derives for this customer.

    Same rules as the profile store: monthly totals exclude cancelled orders, value
    from :func:`compute_value`, lifecycle moved on by lifetime orders, and the repeat
    flag set while an unresolved repeat contact lies within the repeat window.
    """
    buckets: dict[int, list[int]] = {}
    last_order_at: float | None = None
    for order in customer.orders:
        if order.status == "cancelled":
            continue
        bucket = buckets.setdefault(month_index(order.ordered_at), [0, 0, 0])
        bucket[0] += order.amount_cents
        bucket[1] += order.margin_cents
        bucket[2] += 1
        if last_order_at is None or order.ordered_at > last_order_at:
            last_order_at = order.ordered_at
    months = tuple(MonthTotals(m, s, g, n) for m, (s, g, n) in sorted(buckets.items()))
    value = compute_value(months, now=now, last_order_at=last_order_at, settings=settings)
    lifetime_orders = sum(m.orders for m in months)
    window = settings.repeat_contact_days * DAY
    return DerivedValue(
        months=months,
        value=value,
        lifetime_spend_cents=sum(m.spend_cents for m in months),
        lifetime_orders=lifetime_orders,
        last_order_at=last_order_at,
        lifecycle_stage=next_lifecycle_stage(customer.initial_stage.value, lifetime_orders),
        last_contact_at=max((i.started_at for i in customer.interactions), default=None),
        repeat_contact=any(
            i.repeat_contact and not i.resolved and i.started_at >= now - window
            for i in customer.interactions
        ),
    )


# ------------------------------------------------------------- writing via store


ProgressArg = bool | Callable[[int], None]


def progress_callback(
    progress: ProgressArg, total: int, unit: str
) -> tuple[Any, Callable[[int], None]]:
    """A tqdm bar on stderr (``True``), the caller's callback, or nothing."""
    if callable(progress):
        return None, progress
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)
        return bar, bar.update
    return None, lambda _n: None


async def seed_store(
    store: ProfileStore,
    count: int,
    *,
    rng_seed: int,
    progress: ProgressArg = False,
    first_number: int = 1,
    shape: SeedShape | None = None,
    agents: Sequence[Actor] = (),
    actor: Actor = SYSTEM,
) -> dict[str, Any]:
    """Generate ``count`` customers and write them through the profile store.

    Each customer is written with
    :meth:`~contact_center.store.profiles.ProfileStore.create_customer_with_history`:
    validated and audit-logged like any other client's writes, one transaction per
    customer (hundreds of customers a second; ``bulk_load`` is the path for millions).
    ``agents`` are the users interactions and notes are attributed to (roster index
    modulo their number); without them interactions have no agent and notes are written
    as ``actor``. A customer whose identities, orders or contact ids are already recorded
    (the same seed run twice) is skipped and counted, never half-written.
    """
    if count < 0:
        raise InvalidSeedRequest("count must not be negative")
    chosen = shape or SeedShape()
    now = store.clock()
    started = time.perf_counter()
    summary: dict[str, Any] = {
        "customers": 0,
        "skipped_existing": 0,
        "identities": 0,
        "orders": 0,
        "interactions": 0,
        "messages": 0,
        "notes": 0,
        "tiers": {},
    }
    bar, advance = progress_callback(progress, count, "customer")
    try:
        for customer in generate_customers(
            count, rng_seed=rng_seed, now=now, first_number=first_number, shape=chosen
        ):
            written = await _write_customer(store, customer, agents, actor)
            if written is None:
                summary["skipped_existing"] += 1
            else:
                for key in ("identities", "orders", "interactions", "messages", "notes"):
                    summary[key] += written[key]
                summary["customers"] += 1
                tier = written["tier"]
                summary["tiers"][tier] = summary["tiers"].get(tier, 0) + 1
            advance(1)
    finally:
        if bar is not None:
            bar.close()
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary


async def _write_customer(
    store: ProfileStore,
    customer: SyntheticCustomer,
    agents: Sequence[Actor],
    actor: Actor,
) -> dict[str, Any] | None:
    from contact_center.store.profiles import NewInteraction, NewMessage, NewNote

    def agent_of(index: int | None) -> Actor | None:
        return agents[index % len(agents)] if agents and index is not None else None

    owner = agent_of(customer.owner_agent)
    fields: dict[str, Any] = {
        "display_name": customer.display_name,
        "language": customer.language,
        "timezone": customer.timezone,
        "lifecycle_stage": customer.initial_stage.value,
        "tags": list(customer.tags),
        "attributes": dict(customer.attributes),
        "consent": dict(customer.consent),
    }
    if owner is not None and owner.user_id is not None:
        fields["owner_agent_id"] = owner.user_id
    contacts = [
        NewInteraction(
            channel=i.channel.value,
            direction=i.direction.value,
            started_at=i.started_at,
            status=i.status.value,
            contact_id=i.contact_id,
            queue=i.queue,
            subject=i.subject,
            external_ids=dict(i.external_ids),
            agent=agent_of(i.agent),
            queued_at=i.queued_at,
            offered_at=i.offered_at,
            answered_at=i.answered_at,
            ended_at=i.ended_at,
            disposition=i.disposition,
            resolved=i.resolved,
            notes=i.notes,
            summary=i.summary,
            messages=[
                NewMessage(
                    direction=m.direction.value,
                    body=m.body,
                    created_at=m.created_at,
                    sender=m.sender,
                    subject=m.subject,
                    external_id=m.external_id,
                )
                for m in i.messages
            ],
            note_items=[NewNote(n.body, agent_of(n.agent) or actor) for n in i.note_items],
        )
        for i in customer.interactions
    ]
    try:
        return await store.create_customer_with_history(
            fields,
            [store.identity(kind.value, value) for kind, value in customer.identities],
            order_rows=[
                {
                    "source": o.source,
                    "external_id": o.external_id,
                    "amount": o.amount_cents / 100,
                    "margin": o.margin_cents / 100,
                    "currency": o.currency,
                    "items": [_item_json(i) for i in o.items],
                    "status": o.status,
                    "ordered_at": o.ordered_at,
                }
                for o in customer.orders
            ],
            contacts=contacts,
            customer_notes=[NewNote(n.body, agent_of(n.agent) or actor) for n in customer.notes],
            actor=actor,
        )
    except Conflict:
        return None  # already recorded (an earlier run with the same numbers)


def _item_json(item: SyntheticOrderItem) -> dict[str, Any]:
    return {
        "sku": item.sku,
        "name": item.name,
        "quantity": item.quantity,
        "unit_price": item.unit_price_cents / 100,
    }
