"""The canonical data model: what a bank or consumer-finance company has.

Every source system is mapped onto these tables. docs/data-model.md is
generated from this module (``finpersona schema docs``), and a test fails when
the document drifts from the code.
"""

from __future__ import annotations

from finpersona.schema.model import Column, ColumnType, Pii, Table

S, INT, D, B = ColumnType.STRING, ColumnType.INT, ColumnType.DECIMAL, ColumnType.BOOL
DT, TS, J = ColumnType.DATE, ColumnType.TIMESTAMP, ColumnType.JSON

CURRENCIES = ("CNY", "USD", "HKD", "EUR", "JPY", "GBP")
ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
CUSTOMER_ID = Column(
    "customer_id",
    S,
    "Source customer number (核心客户号); pseudonymised.",
    required=True,
    pii=Pii.CUSTOMER_REF,
    pattern=ID_PATTERN,
)
EARLIEST_EVENT = "2000-01-01"


def _cust(required: bool = True) -> Column:
    if required:
        return CUSTOMER_ID
    return Column(
        "customer_id",
        S,
        "Customer number when known; pseudonymised.",
        pii=Pii.CUSTOMER_REF,
        pattern=ID_PATTERN,
    )


CUSTOMERS = Table(
    name="customers",
    description="One row per customer: demographics, region, occupation, KYC and registration.",
    grain="one row per customer",
    mapping_hints=("core banking customer master (ECIF / 客户信息表)", "CRM customer file"),
    primary_key=("customer_id",),
    columns=(
        CUSTOMER_ID,
        Column(
            "name",
            S,
            "Full name (姓名). Masked to 张* in the warehouse.",
            required=True,
            pii=Pii.NAME,
        ),
        Column("gender", S, "M or F.", allowed=("M", "F")),
        Column(
            "birth_date",
            DT,
            "Date of birth; the age derived from it must be 0-120.",
            required=True,
            earliest="1906-01-01",
            latest="today",
        ),
        Column(
            "id_number",
            S,
            "18-digit resident identity card number with a valid check digit.",
            required=True,
            pii=Pii.ID_NUMBER,
            pattern=r"^\d{17}[\dX]$",
        ),
        Column(
            "phone",
            S,
            "Mobile number, 11 digits starting with 1.",
            required=True,
            pii=Pii.PHONE,
            pattern=r"^1[3-9]\d{9}$",
        ),
        Column("email", S, "E-mail address.", pii=Pii.EMAIL, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
        Column("province", S, "Province of residence (省)."),
        Column("city", S, "City of residence (市)."),
        Column("city_tier", INT, "City tier 1 (一线) to 5 (五线).", minimum=1, maximum=5),
        Column(
            "occupation",
            S,
            "Occupation group.",
            allowed=(
                "civil_servant",
                "professional",
                "office_worker",
                "worker",
                "self_employed",
                "business_owner",
                "student",
                "retired",
                "farmer",
                "unemployed",
                "other",
            ),
        ),
        Column(
            "education",
            S,
            "Highest education.",
            allowed=(
                "primary",
                "junior_high",
                "senior_high",
                "college",
                "bachelor",
                "master",
                "doctorate",
            ),
        ),
        Column(
            "income_band",
            S,
            "Declared monthly income in CNY.",
            allowed=("lt_5k", "5k_10k", "10k_20k", "20k_50k", "ge_50k"),
        ),
        Column(
            "marital_status",
            S,
            "Marital status.",
            allowed=("single", "married", "divorced", "widowed"),
        ),
        Column(
            "registration_channel",
            S,
            "Where the customer first registered.",
            required=True,
            allowed=("branch", "app", "web", "partner", "telemarketing"),
        ),
        Column(
            "registered_at",
            DT,
            "Date the customer relationship began.",
            required=True,
            earliest="1990-01-01",
            latest="today",
        ),
        Column(
            "kyc_level",
            INT,
            "Know-your-customer level: 1 basic, 2 verified, 3 in person.",
            required=True,
            minimum=1,
            maximum=3,
        ),
        Column("branch_id", S, "Home branch code.", pattern=ID_PATTERN),
        Column("status", S, "Relationship status.", allowed=("active", "dormant", "closed")),
    ),
)

CONSENTS = Table(
    name="consents",
    description="Marketing and data-use consent by purpose and channel, as recorded over time "
    "(PIPL 单独同意). The latest record per customer, purpose and channel is in force.",
    grain="one row per consent decision",
    mapping_hints=("consent management platform", "app privacy settings log", "branch paper forms"),
    primary_key=("customer_id", "purpose", "channel", "recorded_at"),
    time_column="recorded_at",
    columns=(
        CUSTOMER_ID,
        Column(
            "purpose",
            S,
            "What the data may be used for.",
            required=True,
            allowed=("marketing", "analytics", "third_party_sharing", "credit_reporting"),
        ),
        Column(
            "channel",
            S,
            "Contact channel the consent covers; 'any' for all channels.",
            required=True,
            allowed=("sms", "phone", "email", "app_push", "wechat", "any"),
        ),
        Column(
            "granted",
            B,
            "True when consent is given, false when refused or withdrawn.",
            required=True,
        ),
        Column(
            "recorded_at",
            TS,
            "When the decision was recorded (consents taken at account opening go back to 1990).",
            required=True,
            earliest="1990-01-01",
            latest="today",
        ),
        Column("source", S, "Where it was captured.", allowed=("app", "web", "branch", "phone")),
    ),
)

RISK_ASSESSMENTS = Table(
    name="risk_assessments",
    description="Suitability risk questionnaire answers (风险测评问卷), one row per test.",
    grain="one row per completed questionnaire",
    mapping_hints=("wealth-management suitability system", "fund sales platform"),
    primary_key=("assessment_id",),
    time_column="assessed_at",
    columns=(
        Column("assessment_id", S, "Questionnaire instance id.", required=True, pattern=ID_PATTERN),
        CUSTOMER_ID,
        Column(
            "assessed_at",
            TS,
            "Completion time.",
            required=True,
            earliest=EARLIEST_EVENT,
            latest="today",
        ),
        *(
            Column(
                f"q{i}",
                S,
                f"Answer to question {i} (A lowest risk ... E highest).",
                required=True,
                allowed=("A", "B", "C", "D", "E"),
            )
            for i in range(1, 9)
        ),
        Column(
            "total_score",
            INT,
            "Score computed by the source system, 0-100.",
            minimum=0,
            maximum=100,
        ),
    ),
)

PRODUCTS = Table(
    name="products",
    description="The product catalogue: deposits, wealth, funds, insurance, cards and loans.",
    grain="one row per product",
    mapping_hints=("product factory / 产品工厂", "wealth product master"),
    primary_key=("product_id",),
    columns=(
        Column("product_id", S, "Product code.", required=True, pattern=ID_PATTERN),
        Column("product_name", S, "Marketing name.", required=True),
        Column(
            "product_type",
            S,
            "Product family.",
            required=True,
            allowed=(
                "demand_deposit",
                "time_deposit",
                "wealth_management",
                "fund",
                "insurance",
                "credit_card",
                "consumer_loan",
                "mortgage",
                "business_loan",
            ),
        ),
        Column(
            "risk_level",
            S,
            "Regulatory product risk level R1 (lowest) to R5.",
            required=True,
            allowed=("R1", "R2", "R3", "R4", "R5"),
        ),
        Column(
            "term_months",
            INT,
            "Contract term in months; 0 when open-ended.",
            minimum=0,
            maximum=360,
        ),
        Column(
            "annual_rate",
            D,
            "Interest or expected yield per year as a fraction.",
            minimum=0,
            maximum=0.36,
        ),
        Column("min_amount", D, "Minimum purchase or credit amount in CNY.", minimum=0),
        Column("currency", S, "ISO 4217 currency.", allowed=CURRENCIES),
        Column("launch_date", DT, "First sale date.", earliest="1990-01-01", latest="today"),
        Column("status", S, "Sale status.", allowed=("on_sale", "closed")),
    ),
)

ACCOUNTS = Table(
    name="accounts",
    description="Accounts and contracts a customer holds: deposit accounts, cards, wealth "
    "positions and loan accounts.",
    grain="one row per account",
    mapping_hints=("core banking account master", "card system", "wealth TA system"),
    primary_key=("account_id",),
    foreign_keys=(("customer_id", "customers.customer_id"), ("product_id", "products.product_id")),
    columns=(
        Column("account_id", S, "Account number (internal).", required=True, pattern=ID_PATTERN),
        CUSTOMER_ID,
        Column("product_id", S, "Product held.", required=True, pattern=ID_PATTERN),
        Column(
            "opened_date", DT, "Opening date.", required=True, earliest="1990-01-01", latest="today"
        ),
        Column(
            "closed_date", DT, "Closing date when closed.", earliest="1990-01-01", latest="today"
        ),
        Column(
            "status",
            S,
            "Account status.",
            required=True,
            allowed=("active", "dormant", "frozen", "closed"),
        ),
        Column("currency", S, "ISO 4217 currency.", allowed=CURRENCIES),
        Column("branch_id", S, "Opening branch.", pattern=ID_PATTERN),
        Column(
            "card_number",
            S,
            "Card number (PAN) for card accounts; pseudonymised and masked.",
            pii=Pii.CARD_NUMBER,
            pattern=r"^\d{16,19}$",
        ),
    ),
)

HOLDINGS = Table(
    name="holdings",
    description="Month-end balance of every account: deposits and wealth count towards AUM, "
    "cards and loans show the amount owed.",
    grain="one row per account per snapshot date",
    mapping_hints=("core banking daily balance table (日终余额)", "wealth positions"),
    primary_key=("account_id", "snapshot_date"),
    time_column="snapshot_date",
    columns=(
        Column("account_id", S, "Account.", required=True, pattern=ID_PATTERN),
        CUSTOMER_ID,
        Column("product_id", S, "Product of the account.", required=True, pattern=ID_PATTERN),
        Column(
            "snapshot_date",
            DT,
            "Balance date.",
            required=True,
            earliest="2000-01-01",
            latest="today",
        ),
        Column(
            "balance",
            D,
            "Balance in the account currency; never negative (owed amounts "
            "are positive on credit products).",
            required=True,
            minimum=0,
            maximum=1e10,
        ),
        Column("credit_limit", D, "Credit limit on credit products.", minimum=0, maximum=1e9),
        Column("currency", S, "ISO 4217 currency.", allowed=CURRENCIES),
    ),
)

TRANSACTIONS = Table(
    name="transactions",
    description="Card and account transactions: purchases, transfers, cash, salary, repayments.",
    grain="one row per posted transaction",
    mapping_hints=("core banking journal (交易流水)", "card authorisation / clearing", "UnionPay"),
    primary_key=("txn_id",),
    time_column="txn_time",
    foreign_keys=(("account_id", "accounts.account_id"),),
    columns=(
        Column("txn_id", S, "Transaction reference.", required=True, pattern=ID_PATTERN),
        Column("account_id", S, "Account debited or credited.", required=True, pattern=ID_PATTERN),
        CUSTOMER_ID,
        Column(
            "txn_time",
            TS,
            "Local time of the transaction.",
            required=True,
            earliest=EARLIEST_EVENT,
            latest="today",
        ),
        Column(
            "amount",
            D,
            "Amount, always positive; see direction.",
            required=True,
            minimum=0.01,
            maximum=1e9,
        ),
        Column("currency", S, "ISO 4217 currency.", required=True, allowed=CURRENCIES),
        Column(
            "direction",
            S,
            "debit (money out) or credit (money in).",
            required=True,
            allowed=("debit", "credit"),
        ),
        Column(
            "txn_type",
            S,
            "Business type.",
            required=True,
            allowed=(
                "purchase",
                "transfer_in",
                "transfer_out",
                "cash_withdrawal",
                "deposit",
                "salary",
                "repayment",
                "fee",
                "interest",
                "refund",
            ),
        ),
        Column(
            "channel",
            S,
            "Where it happened.",
            required=True,
            allowed=("app", "pos", "online", "atm", "branch"),
        ),
        Column(
            "mcc", S, "ISO 18245 merchant category code for card purchases.", pattern=r"^\d{4}$"
        ),
        Column("merchant_name", S, "Merchant name."),
        Column("city", S, "City where the transaction took place."),
        Column("status", S, "Posting status.", allowed=("success", "failed", "reversed")),
    ),
)

EVENTS = Table(
    name="events",
    description="App and web behaviour events (埋点), before and after login.",
    grain="one row per tracked event",
    mapping_hints=("app analytics SDK (Sensors / GrowingIO / Umeng export)", "web tag manager"),
    primary_key=("event_id",),
    time_column="event_time",
    columns=(
        Column("event_id", S, "Event id generated by the SDK.", required=True, pattern=ID_PATTERN),
        Column(
            "anonymous_id",
            S,
            "Device or cookie id (设备号). Junk values such as 0, -1 or "
            "'anonymous' are treated as missing.",
            pii=Pii.DEVICE_ID,
            null_tokens=(
                "0",
                "-1",
                "anonymous",
                "null",
                "none",
                "undefined",
                "unknown",
                "00000000-0000-0000-0000-000000000000",
            ),
        ),
        _cust(required=False),
        Column("session_id", S, "SDK session id.", pattern=ID_PATTERN),
        Column(
            "event_time",
            TS,
            "Local time on the device.",
            required=True,
            earliest=EARLIEST_EVENT,
            latest="today",
        ),
        Column(
            "event_name",
            S,
            "What happened.",
            required=True,
            allowed=(
                "app_open",
                "login",
                "logout",
                "page_view",
                "click",
                "search",
                "product_view",
                "loan_apply_start",
                "loan_apply_submit",
                "purchase_start",
                "purchase_submit",
                "transfer",
                "bill_pay",
                "message_open",
                "app_close",
            ),
        ),
        Column("page", S, "Page or screen."),
        Column(
            "platform", S, "Client platform.", allowed=("ios", "android", "web", "mini_program")
        ),
        Column("properties", J, "Other event properties as a JSON object."),
        Column(
            "dwell_ms",
            INT,
            "Time spent on the page in milliseconds.",
            minimum=0,
            maximum=86_400_000,
        ),
    ),
)

LOAN_APPLICATIONS = Table(
    name="loan_applications",
    description="Credit applications and their decisions.",
    grain="one row per application",
    mapping_hints=("loan origination system (进件系统)", "credit decision engine"),
    primary_key=("application_id",),
    time_column="applied_at",
    columns=(
        Column("application_id", S, "Application number.", required=True, pattern=ID_PATTERN),
        CUSTOMER_ID,
        Column("product_id", S, "Credit product applied for.", required=True, pattern=ID_PATTERN),
        Column(
            "applied_at",
            TS,
            "Submission time.",
            required=True,
            earliest=EARLIEST_EVENT,
            latest="today",
        ),
        Column("amount", D, "Requested amount in CNY.", required=True, minimum=1, maximum=1e8),
        Column("term_months", INT, "Requested term.", required=True, minimum=1, maximum=360),
        Column(
            "channel",
            S,
            "Where the application came in.",
            allowed=("app", "web", "branch", "partner"),
        ),
        Column(
            "status",
            S,
            "Decision.",
            required=True,
            allowed=("submitted", "approved", "rejected", "withdrawn"),
        ),
        Column("decided_at", TS, "Decision time.", earliest=EARLIEST_EVENT, latest="today"),
        Column("reject_reason", S, "Reason code when rejected."),
    ),
)

LOANS = Table(
    name="loans",
    description="Disbursed loans (借据).",
    grain="one row per loan",
    mapping_hints=("loan servicing system", "credit card instalment plans"),
    primary_key=("loan_id",),
    time_column="disbursed_date",
    columns=(
        Column("loan_id", S, "Loan number.", required=True, pattern=ID_PATTERN),
        Column("application_id", S, "Originating application.", pattern=ID_PATTERN),
        CUSTOMER_ID,
        Column("product_id", S, "Credit product.", required=True, pattern=ID_PATTERN),
        Column("principal", D, "Disbursed amount in CNY.", required=True, minimum=1, maximum=1e8),
        Column(
            "annual_rate",
            D,
            "Contract annual interest rate as a fraction.",
            required=True,
            minimum=0,
            maximum=0.36,
        ),
        Column(
            "term_months",
            INT,
            "Number of monthly instalments.",
            required=True,
            minimum=1,
            maximum=360,
        ),
        Column(
            "disbursed_date",
            DT,
            "Disbursement date.",
            required=True,
            earliest="2000-01-01",
            latest="today",
        ),
        Column("maturity_date", DT, "Last instalment due date.", earliest="2000-01-01"),
        Column(
            "status",
            S,
            "Servicing status.",
            required=True,
            allowed=("current", "overdue", "paid_off", "written_off"),
        ),
    ),
)

REPAYMENTS = Table(
    name="repayments",
    description="Repayment schedule with what was paid and how late (还款计划).",
    grain="one row per loan instalment",
    mapping_hints=("loan servicing repayment plan", "collections system"),
    primary_key=("loan_id", "installment_no"),
    time_column="due_date",
    columns=(
        Column("loan_id", S, "Loan.", required=True, pattern=ID_PATTERN),
        CUSTOMER_ID,
        Column(
            "installment_no",
            INT,
            "Instalment number, from 1.",
            required=True,
            minimum=1,
            maximum=360,
        ),
        Column("due_date", DT, "Due date.", required=True, earliest="2000-01-01"),
        Column(
            "due_amount",
            D,
            "Amount due (principal and interest).",
            required=True,
            minimum=0,
            maximum=1e8,
        ),
        Column(
            "paid_date",
            DT,
            "Date fully paid, empty while unpaid.",
            earliest="2000-01-01",
            latest="today",
        ),
        Column("paid_amount", D, "Amount paid so far.", minimum=0, maximum=1e8),
        Column(
            "days_past_due",
            INT,
            "Days past due at extraction (0 when paid on time).",
            required=True,
            minimum=0,
            maximum=3650,
        ),
    ),
)

SERVICE_TICKETS = Table(
    name="service_tickets",
    description="Service contacts and complaints with their Chinese free text (客服工单).",
    grain="one row per ticket",
    mapping_hints=("call-centre CRM", "online customer service", "complaint management system"),
    primary_key=("ticket_id",),
    time_column="opened_at",
    columns=(
        Column("ticket_id", S, "Ticket number.", required=True, pattern=ID_PATTERN),
        CUSTOMER_ID,
        Column(
            "opened_at",
            TS,
            "When the contact started.",
            required=True,
            earliest=EARLIEST_EVENT,
            latest="today",
        ),
        Column(
            "channel",
            S,
            "Contact channel.",
            required=True,
            allowed=("phone", "app_chat", "branch", "email", "wechat", "weibo"),
        ),
        Column(
            "category",
            S,
            "Topic.",
            required=True,
            allowed=(
                "card",
                "loan",
                "deposit",
                "wealth",
                "fee",
                "app_issue",
                "fraud",
                "service_attitude",
                "other",
            ),
        ),
        Column("text", S, "What the customer said, in Chinese.", required=True),
        Column("is_complaint", B, "True for a formal complaint (投诉).", required=True),
        Column("satisfaction", INT, "Satisfaction score 1-5 after closing.", minimum=1, maximum=5),
        Column(
            "closed_at", TS, "When the ticket was closed.", earliest=EARLIEST_EVENT, latest="today"
        ),
    ),
)

SOCIAL_MENTIONS = Table(
    name="social_mentions",
    description="Public social-media posts that mention the institution.",
    grain="one row per post",
    mapping_hints=("social listening vendor export", "Weibo / Xiaohongshu monitoring"),
    primary_key=("mention_id",),
    time_column="posted_at",
    columns=(
        Column("mention_id", S, "Post id.", required=True, pattern=ID_PATTERN),
        Column(
            "platform",
            S,
            "Platform.",
            required=True,
            allowed=("weibo", "wechat", "douyin", "xiaohongshu", "zhihu", "heimao"),
        ),
        Column(
            "author_handle",
            S,
            "Author's account name; pseudonymised.",
            required=True,
            pii=Pii.HANDLE,
        ),
        _cust(required=False),
        Column(
            "posted_at", TS, "Post time.", required=True, earliest=EARLIEST_EVENT, latest="today"
        ),
        Column("text", S, "Post text in Chinese.", required=True),
        Column("likes", INT, "Likes at extraction.", minimum=0),
        Column("reposts", INT, "Reposts at extraction.", minimum=0),
    ),
)

CAMPAIGNS = Table(
    name="campaigns",
    description="Marketing campaigns with their design and cost.",
    grain="one row per campaign",
    mapping_hints=("marketing automation platform", "campaign management"),
    primary_key=("campaign_id",),
    columns=(
        Column("campaign_id", S, "Campaign code.", required=True, pattern=ID_PATTERN),
        Column("campaign_name", S, "Name.", required=True),
        Column("product_id", S, "Product promoted.", pattern=ID_PATTERN),
        Column(
            "objective",
            S,
            "Goal.",
            allowed=("acquisition", "cross_sell", "activation", "retention", "winback"),
        ),
        Column(
            "channel", S, "Main channel.", allowed=("sms", "phone", "email", "app_push", "wechat")
        ),
        Column("start_date", DT, "First day.", required=True, earliest="2000-01-01"),
        Column("end_date", DT, "Last day.", earliest="2000-01-01"),
        Column(
            "control_share", D, "Share of the audience held out as control.", minimum=0, maximum=1
        ),
        Column("cost_per_contact", D, "Cost of one contact in CNY.", minimum=0),
    ),
)

MARKETING_TOUCHES = Table(
    name="marketing_touches",
    description="Every contact of a campaign and its outcome; control-group members appear "
    "with sent = false so uplift can be measured.",
    grain="one row per customer per campaign",
    mapping_hints=("SMS gateway reports", "push platform", "outbound call system"),
    primary_key=("touch_id",),
    time_column="sent_at",
    columns=(
        Column("touch_id", S, "Contact id.", required=True, pattern=ID_PATTERN),
        Column("campaign_id", S, "Campaign.", required=True, pattern=ID_PATTERN),
        CUSTOMER_ID,
        Column(
            "channel",
            S,
            "Channel.",
            required=True,
            allowed=("sms", "phone", "email", "app_push", "wechat"),
        ),
        Column(
            "arm",
            S,
            "treatment or control (randomised).",
            required=True,
            allowed=("treatment", "control"),
        ),
        Column(
            "sent_at",
            TS,
            "Send time (assignment time for control).",
            required=True,
            earliest=EARLIEST_EVENT,
            latest="today",
        ),
        Column("sent", B, "Whether the message was sent.", required=True),
        Column("opened", B, "Opened or answered."),
        Column("clicked", B, "Clicked through."),
        Column("converted", B, "Bought the product within the attribution window.", required=True),
        Column("converted_at", TS, "Conversion time.", earliest=EARLIEST_EVENT, latest="today"),
        Column("revenue", D, "Revenue attributed to the conversion in CNY.", minimum=0),
        Column("cost", D, "Cost of the contact in CNY.", minimum=0),
    ),
)

TABLES: tuple[Table, ...] = (
    CUSTOMERS,
    CONSENTS,
    RISK_ASSESSMENTS,
    PRODUCTS,
    ACCOUNTS,
    HOLDINGS,
    TRANSACTIONS,
    EVENTS,
    LOAN_APPLICATIONS,
    LOANS,
    REPAYMENTS,
    SERVICE_TICKETS,
    SOCIAL_MENTIONS,
    CAMPAIGNS,
    MARKETING_TOUCHES,
)
TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def get_table(name: str) -> Table:
    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(TABLES_BY_NAME))
        raise KeyError(f"unknown table {name!r}; known tables: {known}") from None
