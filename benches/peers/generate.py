"""Generate the reference data set of issue 3: table `orders`, key `order_id`.

    python generate.py OUT_DIR [--rows N] [--equal]

Writes OUT_DIR/baseline and OUT_DIR/candidate as ORC (pyarrow's writer, Arrow C++) and
OUT_DIR/truth.json with the exact counts a correct diff must report.

Every value is a pure function of `order_id`, so the data can be generated in chunks of any size
and both sides agree wherever the truth says they do. The candidate:
- deletes 0.05% of the keys (order_id % 2000 == 7) and adds as many new ones (ids >= N);
- changes exactly one column in 0.1% of the rows (order_id % 1000 == 3), rotating through the
  value columns;
- writes every map with its entries in reverse order (not a change);
- has another file split, compression, stripe size, row order and column order.
With --equal the candidate holds the same rows as the baseline (layout differences only).
"""

import argparse
import json
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.orc as orc

STATUSES = ["paid", "shipped", "cancelled", "退款中", "配送済み", "returned"]
TAGS = ["gift", "express", "bulk", "fragile", "promo", "vip", "international", "eco"]
ATTR_KEYS = ["color", "size", "channel", "coupon"]
ATTR_VALUES = ["red", "blue", "XL", "M", "web", "app", "store", "SPRING24", "满减"]
CHANGED_COLUMNS = ["shop_id", "buyer", "amount", "price", "qty", "status", "created_at", "tags", "attrs"]
EPOCH_NS = 1_714_521_600_000_000_000


def mix(ids, salt):
    """A deterministic pseudo-random uint64 per id (splitmix64)."""
    with np.errstate(over="ignore"):
        z = ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt * 0xBF58476D1CE4E5B9 & (2**64 - 1))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def decimal_array(cents):
    """decimal(18,2) from int64 cents, through the little-endian 128-bit buffer."""
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words.tobytes())])


def tags_array(ids, changed):
    lengths = (mix(ids, 20) % np.uint64(4)).astype(np.int64) + changed.astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    owner = np.repeat(ids, lengths)
    position = np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths)
    values = pa.array(TAGS).take(pa.array((mix(owner * 8 + position, 21) % np.uint64(len(TAGS))).astype(np.int64)))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def attrs_array(ids, changed, reverse):
    """map<string,string>, 20% NULL, 1-4 entries with distinct keys; `reverse` flips entry order."""
    is_null = (mix(ids, 30) % np.uint64(5) == 0) & ~changed
    lengths = np.where(is_null, 0, (mix(ids, 31) % np.uint64(4)).astype(np.int64) + 1)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    starts = np.repeat(offsets[:-1], lengths)
    position = np.arange(offsets[-1]) - starts
    owner = np.repeat(ids, lengths)
    first_key = np.repeat((mix(ids, 32) % np.uint64(len(ATTR_KEYS))).astype(np.int64), lengths)
    keys = (first_key + position) % len(ATTR_KEYS)
    values = (mix(owner * 8 + position, 33) % np.uint64(len(ATTR_VALUES))).astype(np.int64)
    values = np.where(np.repeat(changed, lengths) & (position == 0), (values + 1) % len(ATTR_VALUES), values)
    if reverse:
        order = starts + (np.repeat(lengths, lengths) - 1 - position)
        keys, values = keys[order], values[order]
    mask = pa.array(is_null)
    return pa.MapArray.from_arrays(
        pa.array(offsets), pa.array(ATTR_KEYS).take(pa.array(keys)), pa.array(ATTR_VALUES).take(pa.array(values)),
        mask=mask,
    )


def orders(ids, candidate):
    """The rows with these ids, as the baseline or the candidate writes them."""
    ids = np.asarray(ids, dtype=np.int64)
    change = np.full(len(ids), -1)
    if candidate:
        changed_rows = ids % 1000 == 3
        change[changed_rows] = (ids[changed_rows] // 1000) % len(CHANGED_COLUMNS)
    is_changed = {name: change == i for i, name in enumerate(CHANGED_COLUMNS)}

    shop = (mix(ids, 1) % np.uint64(5000)).astype(np.int32) + is_changed["shop_id"].astype(np.int32)
    buyer_null = (mix(ids, 2) % np.uint64(100) == 0) & ~is_changed["buyer"]
    suffix = pa.array(np.where(is_changed["buyer"], "*", ""))
    buyer = pa.array(mix(ids, 3) % np.uint64(100_000)).cast(pa.string())
    buyer = pc.binary_join_element_wise("buyer-", buyer, suffix, "")
    buyer = pc.if_else(pa.array(buyer_null), pa.scalar(None, pa.string()), buyer)
    cents = (mix(ids, 4) % np.uint64(10_000_000)).astype(np.int64) + is_changed["amount"].astype(np.int64)
    price = (mix(ids, 5) % np.uint64(100_000)).astype(np.float64) / 100.0 + is_changed["price"] * 0.5
    qty = (mix(ids, 6) % np.uint64(20)).astype(np.int32) + 1 + is_changed["qty"].astype(np.int32)
    status_index = (mix(ids, 7) % np.uint64(len(STATUSES))).astype(np.int64)
    status_index = np.where(is_changed["status"], (status_index + 1) % len(STATUSES), status_index)
    created = EPOCH_NS + ids * 1_000_003_000 + is_changed["created_at"].astype(np.int64) * 1_000_000_000
    columns = {
        "order_id": pa.array(ids),
        "shop_id": pa.array(shop),
        "buyer": buyer,
        "amount": decimal_array(cents),
        "price": pa.array(price),
        "qty": pa.array(qty),
        "status": pa.array(STATUSES).take(pa.array(status_index)),
        "created_at": pa.array(created, pa.timestamp("ns")),
        "tags": tags_array(ids, is_changed["tags"]),
        "attrs": attrs_array(ids, is_changed["attrs"], reverse=candidate),
    }
    if candidate:
        names = ["attrs", "status", "order_id", "price", "tags", "buyer", "qty", "created_at", "amount", "shop_id"]
        columns = {name: columns[name] for name in names}
    return pa.table(columns)


def write_side(directory, ids_chunks, candidate, compression, stripe_size):
    os.makedirs(directory, exist_ok=True)
    for index, ids in enumerate(ids_chunks):
        path = os.path.join(directory, f"part-{index:05d}.orc")
        orc.write_table(orders(ids, candidate), path, compression=compression, stripe_size=stripe_size)


def candidate_chunks(rows, equal, chunk):
    """The candidate's ids: blocks in reverse order, shuffled within each block, keys deleted and added."""
    added = 0 if equal else rows // 2000
    rng = np.random.default_rng(42)
    for end in range(rows + added, 0, -chunk):
        ids = np.arange(max(0, end - chunk), end, dtype=np.int64)
        if not equal:
            ids = ids[(ids % 2000 != 7) | (ids >= rows)]
        rng.shuffle(ids)
        yield ids


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--equal", action="store_true", help="same rows on both sides, only the layout differs")
    args = parser.parse_args()
    rows = args.rows
    baseline_chunk = min(rows, 500_000) if rows <= 4_000_000 else 1_000_000
    candidate_chunk = baseline_chunk * 4 // 3 + 1
    write_side(
        os.path.join(args.out, "baseline"),
        (np.arange(start, min(rows, start + baseline_chunk)) for start in range(0, rows, baseline_chunk)),
        candidate=False, compression="zlib", stripe_size=64 << 20,
    )
    write_side(
        os.path.join(args.out, "candidate"),
        candidate_chunks(rows, args.equal, candidate_chunk),
        candidate=not args.equal, compression="snappy", stripe_size=16 << 20,
    )
    deleted = 0 if args.equal else sum(1 for i in range(7, rows, 2000))
    changed = 0 if args.equal else sum(1 for i in range(3, rows, 1000) if i % 2000 != 7)
    added = 0 if args.equal else rows // 2000
    truth = {
        "rows_baseline": rows,
        "rows_candidate": rows - deleted + added,
        "matched": rows - deleted - changed,
        "changed": changed,
        "only_in_baseline": deleted,
        "only_in_candidate": added,
    }
    with open(os.path.join(args.out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=2)
    json.dump(truth, sys.stdout)
    print()


if __name__ == "__main__":
    main()
