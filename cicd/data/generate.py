"""Deterministic synthetic CRM, product and operations data matching the raw source schemas.

Same (scale, seed) -> same bytes: every random draw comes from a generator seeded by (seed, table, chunk),
chunk sizes depend only on the scale, and Parquet is written with fixed options. Nothing is derived from
real people: names are combined from short lists, e-mail domains are the reserved `.example` TLD and
phone numbers sit in ranges reserved for fiction.

Rows per scale unit ≈ 10,000 (so scale 1000 ≈ 10 million rows), dominated by operations events.
Edge cases are planted on purpose: superseded CRM versions and exact duplicates to be deduplicated,
Kafka redeliveries, late-arriving events, nulls in optional columns, lower-case country codes,
mixed-case e-mails and unicode (accents, CJK, an apostrophe, an emoji) in names.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cicd.data.schemas import MONEY, SOURCES

# A fixed "now": the data must not move with the wall clock, or the same seed would give other bytes.
AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
_AS_OF_US = int(AS_OF.timestamp() * 1_000_000)
_HOUR = 3_600 * 1_000_000
_DAY = 24 * _HOUR

# Per scale unit.
ACCOUNTS = 200
CONTACTS = 600
OPPORTUNITIES = 400
PRODUCTS = 40
ORDERS = 2_800
TICKETS = 500
ORDER_CHUNK = 250_000  # bounds memory at large scales; chunking never changes the bytes for a given scale

FIRST_NAMES = [
    ("Ana", "ana"), ("José", "jose"), ("Zoë", "zoe"), ("Łukasz", "lukasz"), ("Søren", "soren"),
    ("Chloé", "chloe"), ("Mei", "mei"), ("Ngọc", "ngoc"), ("Aarav", "aarav"), ("Fatima", "fatima"),
    ("Olúwaseun", "oluwaseun"), ("Björn", "bjorn"), ("Yuki", "yuki"), ("Maria", "maria"), ("Liam", "liam"),
]  # fmt: skip
LAST_NAMES = [
    ("García", "garcia"), ("Müller", "muller"), ("O'Brien", "obrien"), ("Nguyễn", "nguyen"), ("李", "li"),
    ("Kowalski", "kowalski"), ("Fernández", "fernandez"), ("Smith", "smith"), ("Dubois", "dubois"),
    ("Silva", "silva"), ("Tanaka", "tanaka"), ("Okafor", "okafor"), ("Østergaard", "ostergaard"),
]  # fmt: skip
COMPANY_WORDS = ["Acme", "Nimbus", "Globex", "Initech", "Umbrella", "Zenith", "Aurora", "Helios", "Nordlys",
                 "Café Río", "Sakura 桜", "Pampa", "Andes", "Kraków", "Ωmega", "Vértice"]  # fmt: skip
COMPANY_SUFFIXES = ["Ltd", "GmbH", "S.A.", "Inc.", "株式会社", "S.R.L.", "AB"]
INDUSTRIES = ["software", "retail", "manufacturing", "finance", "healthcare", "logistics", "energy"]
# Lower-case variants on purpose: staging normalises them.
COUNTRIES = ["US", "AR", "BR", "DE", "ES", "GB", "JP", "MX", "PL", "DK", "de", "us"]
CURRENCIES = ["USD", "EUR", "GBP"]
STAGES = ["prospecting", "qualification", "negotiation", "closed_won", "closed_lost"]
CATEGORIES = ["analytics", "storage", "compute", "networking", "security", "support plan"]
PRODUCT_WORDS = ["Stream", "Vault", "Pulse", "Lens", "Forge", "Relay", "Atlas", "Nube ☁", "Kōan"]
JOB_TITLES = ["CTO", "Data Engineer", "Head of Analytics", "Procurement Lead", "Directora de Operaciones"]
KAFKA_PARTITIONS = 12


@dataclass(frozen=True)
class GeneratedTable:
    source: str
    table: str
    path: Path
    rows: int
    sha256: str


@dataclass
class GenerationResult:
    out_dir: Path
    scale: int
    seed: int
    tables: list[GeneratedTable] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def generator_fingerprint() -> str:
    """Changes whenever the generator's code does: cached data is reused only while this matches."""
    digest = hashlib.sha256()
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes())
    return digest.hexdigest()[:16]


def _rng(seed: int, table: str, chunk: int = 0) -> np.random.Generator:
    table_key = int.from_bytes(hashlib.sha256(table.encode()).digest()[:4], "little")
    return np.random.default_rng([seed, table_key, chunk])


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    padded = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, padded, "")


def _pick(values: list[str], idx: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    picked = pa.array(values, pa.string()).take(pa.array(idx, pa.int64()))
    if null_mask is None:
        return picked
    return pc.if_else(pa.array(null_mask), pa.scalar(None, pa.string()), picked)


def _join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


def _money(cents: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    # Build decimal128(18, 2) straight from the integer cents: exact, and fast at 10M rows.
    cents = np.ascontiguousarray(cents, dtype="<i8")
    words = np.empty((len(cents), 2), dtype="<i8")
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)
    validity = None
    null_count = 0
    if null_mask is not None and null_mask.any():
        validity = pa.py_buffer(np.packbits(~null_mask, bitorder="little").tobytes())
        null_count = int(null_mask.sum())
    return pa.Array.from_buffers(MONEY, len(cents), [validity, pa.py_buffer(words.tobytes())], null_count=null_count)


def _ts(micros: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(micros.astype("int64"), pa.timestamp("us"), mask=null_mask)


def _table(key: tuple[str, str], columns: dict[str, pa.Array]) -> pa.Table:
    schema = SOURCES[key]
    return pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)


def accounts(scale: int, seed: int) -> pa.Table:
    n = ACCOUNTS * scale
    rng = _rng(seed, "accounts")
    idx = np.arange(n)
    created = _AS_OF_US - rng.integers(400 * _DAY, 2_000 * _DAY, n)
    updated = created + (rng.random(n) * (_AS_OF_US - 2 * _DAY - created)).astype("int64")
    name = _join(
        _pick(COMPANY_WORDS, rng.integers(0, len(COMPANY_WORDS), n)),
        _pick(COMPANY_WORDS, rng.integers(0, len(COMPANY_WORDS), n)),
        _ids("", idx, 5),
        _pick(COMPANY_SUFFIXES, rng.integers(0, len(COMPANY_SUFFIXES), n)),
        sep=" ",
    )
    current = {
        "id": _ids("ACC-", idx, 7),
        "name": name,
        "industry": _pick(INDUSTRIES, rng.integers(0, len(INDUSTRIES), n), rng.random(n) < 0.05),
        "country_code": _pick(COUNTRIES, rng.integers(0, len(COUNTRIES), n)),
        "owner_email": _join("rep-", _ids("", rng.integers(0, 50, n), 2), "@sales.dataplatform.example"),
        "annual_revenue": _money(rng.integers(10_000_00, 500_000_000_00, n), rng.random(n) < 0.1),
        "created_at": _ts(created),
        "updated_at": _ts(updated),
        "loaded_at": _ts(updated + rng.integers(_HOUR, 6 * _HOUR, n)),
    }
    # ~5% of accounts also carry a superseded version (older updated_at, other industry and name):
    # the dedup model must keep the latest one.
    old = np.flatnonzero(rng.random(n) < 0.05)
    old_updated = created[old] + (updated[old] - created[old]) // 2
    superseded = {name: col.take(pa.array(old)) for name, col in current.items()}
    superseded["name"] = _join(superseded["name"], "(legacy)", sep=" ")
    superseded["industry"] = _pick(INDUSTRIES, rng.integers(0, len(INDUSTRIES), len(old)))
    superseded["updated_at"] = _ts(old_updated)
    superseded["loaded_at"] = _ts(old_updated + _HOUR)
    return pa.concat_tables([_table(("crm", "accounts"), current), _table(("crm", "accounts"), superseded)])


def contacts(scale: int, seed: int) -> pa.Table:
    n_accounts = ACCOUNTS * scale
    n = CONTACTS * scale
    rng = _rng(seed, "contacts")
    account = np.sort(rng.integers(0, n_accounts, n))  # some accounts get none: an edge case for the marts
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    idx = np.arange(n)
    local = _join(
        _pick([slug for _, slug in FIRST_NAMES], first), _pick([slug for _, slug in LAST_NAMES], last), sep="."
    )
    email = _join(local, _ids("", idx, 7), "@acc", _ids("", account, 7), ".example")
    # A few e-mails arrive upper-cased from the CRM's web form; staging lower-cases them.
    shout = rng.random(n) < 0.03
    email = pc.if_else(pa.array(shout), pc.utf8_upper(email), email)
    created = _AS_OF_US - rng.integers(10 * _DAY, 1_500 * _DAY, n)
    updated = created + (rng.random(n) * (_AS_OF_US - _DAY - created)).astype("int64")
    phone = _join(
        _pick(["+1 555 01", "+44 20 7946 0"], rng.integers(0, 2, n)),
        _ids("", rng.integers(0, 100, n), 2),
    )
    table = _table(
        ("crm", "contacts"),
        {
            "id": _ids("CON-", idx, 8),
            "account_id": _ids("ACC-", account, 7),
            "first_name": _pick([name for name, _ in FIRST_NAMES], first),
            "last_name": _pick([name for name, _ in LAST_NAMES], last),
            "email": email,
            "phone": pc.if_else(pa.array(rng.random(n) < 0.2), pa.scalar(None, pa.string()), phone),
            "job_title": _pick(JOB_TITLES, rng.integers(0, len(JOB_TITLES), n), rng.random(n) < 0.1),
            "created_at": _ts(created),
            "updated_at": _ts(updated),
            "loaded_at": _ts(updated + rng.integers(_HOUR, 12 * _HOUR, n)),
        },
    )
    # Exact duplicate rows (the CRM export re-sends a page): ~2%.
    dupes = np.flatnonzero(rng.random(n) < 0.02)
    return pa.concat_tables([table, table.take(pa.array(dupes))])


def opportunities(scale: int, seed: int) -> pa.Table:
    n_accounts = ACCOUNTS * scale
    n = OPPORTUNITIES * scale
    rng = _rng(seed, "opportunities")
    idx = np.arange(n)
    stage = rng.choice(len(STAGES), n, p=[0.2, 0.15, 0.15, 0.3, 0.2])
    closed = stage >= 3
    created = _AS_OF_US - rng.integers(30 * _DAY, 800 * _DAY, n)
    close_day = (
        np.where(
            closed,
            (created + rng.integers(7 * _DAY, 180 * _DAY, n)).clip(max=_AS_OF_US - _DAY),
            _AS_OF_US + rng.integers(7 * _DAY, 200 * _DAY, n),
        )
        // _DAY
    )
    updated = np.where(closed, close_day * _DAY + 9 * _HOUR, _AS_OF_US - rng.integers(_DAY, 30 * _DAY, n))
    updated = np.maximum(updated, created + _HOUR)
    current = {
        "id": _ids("OPP-", idx, 8),
        "account_id": _ids("ACC-", rng.integers(0, n_accounts, n), 7),
        "name": _join(
            _pick(PRODUCT_WORDS, rng.integers(0, len(PRODUCT_WORDS), n)), "renewal", _ids("", idx, 6), sep=" "
        ),
        "stage_name": _pick(STAGES, stage),
        "amount": _money(rng.integers(1_000_00, 2_000_000_00, n), rng.random(n) < 0.03),
        "currency_code": _pick(CURRENCIES, rng.integers(0, len(CURRENCIES), n)),
        "close_date": pa.array(close_day.astype("int32"), pa.date32()),
        "created_at": _ts(created),
        "updated_at": _ts(updated),
        "loaded_at": _ts(updated + rng.integers(_HOUR, 6 * _HOUR, n)),
    }
    # ~10% carry the earlier 'prospecting' version of the same opportunity.
    old = np.flatnonzero(rng.random(n) < 0.1)
    superseded = {name: col.take(pa.array(old)) for name, col in current.items()}
    superseded["stage_name"] = pa.array(["prospecting"] * len(old), pa.string())
    superseded["updated_at"] = _ts(created[old] + _HOUR)
    superseded["loaded_at"] = _ts(created[old] + 2 * _HOUR)
    return pa.concat_tables([_table(("crm", "opportunities"), current), _table(("crm", "opportunities"), superseded)])


def products(scale: int, seed: int) -> pa.Table:
    n = PRODUCTS * scale
    rng = _rng(seed, "products")
    idx = np.arange(n)
    created = _AS_OF_US - rng.integers(400 * _DAY, 1_500 * _DAY, n)
    updated = created + (rng.random(n) * (_AS_OF_US - _DAY - created)).astype("int64")
    return _table(
        ("product", "products"),
        {
            "id": _ids("PRD-", idx, 6),
            "sku": _join(_pick(["SKU", "sku"], rng.integers(0, 2, n)), _ids("", idx, 6), sep="-"),
            "name": _join(_pick(PRODUCT_WORDS, rng.integers(0, len(PRODUCT_WORDS), n)), _ids("", idx, 4), sep=" "),
            "category": _pick(CATEGORIES, rng.integers(0, len(CATEGORIES), n)),
            "is_active": pa.array(rng.random(n) < 0.9),
            "created_at": _ts(created),
            "updated_at": _ts(updated),
            "loaded_at": _ts(updated + rng.integers(_HOUR, 24 * _HOUR, n)),
        },
    )


def product_prices(scale: int, seed: int, product_table: pa.Table) -> pa.Table:
    n_products = product_table.num_rows
    rng = _rng(seed, "product_prices")
    periods = rng.integers(1, 5, n_products)
    product = np.repeat(np.arange(n_products), periods)
    # Position of each row within its product's price history.
    starts = np.repeat(np.cumsum(periods) - periods, periods)
    position = np.arange(len(product)) - starts
    is_last = position == np.repeat(periods - 1, periods)
    created = product_table.column("created_at").cast(pa.int64()).to_numpy()[product]
    valid_from = created + position * 90 * _DAY
    valid_to = valid_from + 90 * _DAY
    # Inactive products have no open price period: their catalog price is null downstream.
    active = product_table.column("is_active").to_numpy(zero_copy_only=False)[product]
    open_ended = is_last & active
    base = rng.integers(5_00, 900_00, n_products)[product]
    price = base + position * rng.integers(0, 50_00, len(product))
    n = len(product)
    return _table(
        ("product", "product_prices"),
        {
            "id": _ids("PRC-", np.arange(n), 7),
            "product_id": _ids("PRD-", product, 6),
            "currency_code": pa.array(["USD"] * n, pa.string()),
            "list_price": _money(price),
            "valid_from": _ts(valid_from),
            "valid_to": _ts(valid_to, open_ended),
            "loaded_at": _ts(valid_from + rng.integers(_HOUR, 48 * _HOUR, n)),
        },
    )


def _event_chunk(scale: int, seed: int, chunk: int, first_order: int, n_orders: int, first_event: int) -> pa.Table:
    rng = _rng(seed, "events", chunk)
    n_accounts, n_products = ACCOUNTS * scale, PRODUCTS * scale
    order = np.arange(first_order, first_order + n_orders)
    account = rng.integers(0, n_accounts, n_orders)
    product = rng.integers(0, n_products, n_orders)
    quantity = rng.integers(1, 11, n_orders)
    amount = quantity * rng.integers(5_00, 500_00, n_orders)
    placed = _AS_OF_US - rng.integers(_HOUR, 365 * _DAY, n_orders)
    cancelled = rng.random(n_orders) < 0.05
    shipped = ~cancelled & (rng.random(n_orders) < 0.93)
    delivered = shipped & (rng.random(n_orders) < 0.9)
    cancel_at = placed + rng.integers(_HOUR, 48 * _HOUR, n_orders)
    ship_at = placed + rng.integers(2 * _HOUR, 3 * _DAY, n_orders)
    deliver_at = ship_at + rng.integers(_DAY, 9 * _DAY, n_orders)
    n_tickets = n_orders * TICKETS // ORDERS
    ticket = np.arange(first_order * TICKETS // ORDERS, first_order * TICKETS // ORDERS + n_tickets)
    ticket_account = rng.integers(0, n_accounts, n_tickets)
    opened = _AS_OF_US - rng.integers(_HOUR, 365 * _DAY, n_tickets)
    resolved_at = opened + rng.integers(_HOUR, 10 * _DAY, n_tickets)
    resolved = rng.random(n_tickets) < 0.8

    parts = [
        ("order_placed", np.ones(n_orders, bool), placed),
        ("order_cancelled", cancelled, cancel_at),
        ("order_shipped", shipped, ship_at),
        ("order_delivered", delivered, deliver_at),
    ]
    types: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    times: list[np.ndarray] = []
    for code, (_, mask, at) in enumerate(parts):
        keep = mask & (at < _AS_OF_US)  # what has not happened yet by AS_OF is not in the stream
        rows.append(np.flatnonzero(keep))
        types.append(np.full(int(keep.sum()), code))
        times.append(at[keep])
    order_rows = np.concatenate(rows)
    order_types = np.concatenate(types)
    order_times = np.concatenate(times)
    ticket_rows = np.concatenate([np.arange(n_tickets), np.flatnonzero(resolved & (resolved_at < _AS_OF_US))])
    ticket_types = np.concatenate([np.full(n_tickets, 4), np.full(len(ticket_rows) - n_tickets, 5)])
    ticket_times = np.concatenate([opened, resolved_at[ticket_rows[n_tickets:]]])

    n_order_events, n_ticket_events = len(order_rows), len(ticket_rows)
    n = n_order_events + n_ticket_events
    event_types = ["order_placed", "order_cancelled", "order_shipped", "order_delivered",
                   "support_ticket_opened", "support_ticket_resolved"]  # fmt: skip
    is_order = np.arange(n) < n_order_events
    occurred = np.concatenate([order_times, ticket_times])
    quantity_col = np.zeros(n, "int32")
    quantity_col[:n_order_events] = quantity[order_rows]
    amount_col = np.zeros(n, "int64")
    amount_col[:n_order_events] = amount[order_rows]
    placed_only = np.concatenate([order_types == 0, np.zeros(n_ticket_events, bool)])
    order_ids = np.zeros(n, "int64")
    order_ids[:n_order_events] = order[order_rows]
    ticket_ids = np.zeros(n, "int64")
    ticket_ids[n_order_events:] = ticket[ticket_rows]
    accounts_col = np.concatenate([account[order_rows], ticket_account[ticket_rows]])
    products_col = np.zeros(n, "int64")
    products_col[:n_order_events] = product[order_rows]
    # Most events land within two minutes; ~2% arrive days late (a consumer outage being replayed).
    lag = np.where(rng.random(n) < 0.02, rng.integers(_DAY, 5 * _DAY, n), rng.integers(1_000_000, 120_000_000, n))
    event_no = np.arange(first_event, first_event + n)
    columns = {
        "event_id": _ids("EVT-", event_no, 10),
        "event_type": _pick(event_types, np.concatenate([order_types, ticket_types])),
        "order_id": pc.if_else(pa.array(is_order), _ids("ORD-", order_ids, 9), pa.scalar(None, pa.string())),
        "ticket_id": pc.if_else(pa.array(is_order), pa.scalar(None, pa.string()), _ids("TCK-", ticket_ids, 8)),
        "account_id": _ids("ACC-", accounts_col, 7),
        "product_id": pc.if_else(pa.array(is_order), _ids("PRD-", products_col, 6), pa.scalar(None, pa.string())),
        # Quantity and amount travel on order_placed only.
        "quantity": pa.array(quantity_col, pa.int32(), mask=~placed_only),
        "amount": _money(amount_col, ~placed_only),
        "occurred_at": _ts(occurred),
        "kafka_partition": pa.array((accounts_col % KAFKA_PARTITIONS).astype("int32")),
        "kafka_offset": pa.array(event_no, pa.int64()),
        "loaded_at": _ts(occurred + lag),
    }
    table = _table(("operations", "events"), columns)
    # At-least-once delivery: ~1% of events are redelivered later with a new offset.
    redelivered = np.flatnonzero(rng.random(n) < 0.01)
    dupes = table.take(pa.array(redelivered))
    dupes = dupes.set_column(
        dupes.schema.get_field_index("kafka_offset"), "kafka_offset", pa.array(event_no[redelivered] + (1 << 40))
    )
    dupes = dupes.set_column(
        dupes.schema.get_field_index("loaded_at"),
        "loaded_at",
        _ts(occurred[redelivered] + lag[redelivered] + rng.integers(60_000_000, 3_600_000_000, len(redelivered))),
    )
    return pa.concat_tables([table, dupes])


def events(scale: int, seed: int) -> Iterator[pa.Table]:
    total = ORDERS * scale
    first_event = 0
    for chunk, first_order in enumerate(range(0, total, ORDER_CHUNK)):
        table = _event_chunk(scale, seed, chunk, first_order, min(ORDER_CHUNK, total - first_order), first_event)
        first_event += table.num_rows
        yield table


def _write(path: Path, tables: Iterator[pa.Table] | list[pa.Table], schema: pa.Schema) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    tmp = path.with_suffix(".parquet.partial")
    # Fixed options (compression, row-group size, no pandas metadata) keep the bytes reproducible.
    with pq.ParquetWriter(tmp, schema, compression="zstd", store_schema=False) as writer:
        for table in tables:
            writer.write_table(table, row_group_size=1_000_000)
            rows += table.num_rows
    tmp.replace(path)
    return rows


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


MANIFEST = "manifest.json"


def generate(out_dir: Path, *, scale: int = 1, seed: int = 42) -> GenerationResult:
    """Write one Parquet file per source table under out_dir/<source>/<table>.parquet plus a manifest."""
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    started = time.perf_counter()
    result = GenerationResult(out_dir=out_dir, scale=scale, seed=seed)
    product_table = products(scale, seed)
    plan: list[tuple[tuple[str, str], Iterator[pa.Table] | list[pa.Table]]] = [
        (("crm", "accounts"), [accounts(scale, seed)]),
        (("crm", "contacts"), [contacts(scale, seed)]),
        (("crm", "opportunities"), [opportunities(scale, seed)]),
        (("product", "products"), [product_table]),
        (("product", "product_prices"), [product_prices(scale, seed, product_table)]),
        (("operations", "events"), events(scale, seed)),
    ]
    for (source, table), chunks in plan:
        path = out_dir / source / f"{table}.parquet"
        rows = _write(path, chunks, SOURCES[(source, table)])
        result.tables.append(GeneratedTable(source, table, path, rows, _sha256(path)))
    result.seconds = time.perf_counter() - started
    manifest = {
        "scale": scale,
        "seed": seed,
        "as_of": AS_OF.isoformat(),
        "generator": generator_fingerprint(),
        "tables": {f"{t.source}.{t.table}": {"rows": t.rows, "sha256": t.sha256} for t in result.tables},
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return result


def cached(out_dir: Path, *, scale: int, seed: int) -> bool:
    """True when out_dir already holds this exact (scale, seed, generator) data set, untouched."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if (manifest.get("scale"), manifest.get("seed"), manifest.get("generator")) != (
        scale,
        seed,
        generator_fingerprint(),
    ):
        return False
    for key in SOURCES:
        path = out_dir / key[0] / f"{key[1]}.parquet"
        entry = manifest.get("tables", {}).get(f"{key[0]}.{key[1]}")
        if entry is None or not path.exists():
            return False
    return True


def ensure(out_dir: Path, *, scale: int, seed: int) -> Path:
    if not cached(out_dir, scale=scale, seed=seed):
        generate(out_dir, scale=scale, seed=seed)
    return out_dir
