"""The diff of `orders` by `order_id` as teams write it today with other tools.

    python peers.py duckdb|polars|datacompy|spark BASELINE_DIR CANDIDATE_DIR

Each tool does the natural thing a team would write: read both sides, FULL OUTER JOIN on the key,
count keys on one side only and matched keys whose values differ in some column. It prints one
JSON line with the counts, or with `error` when the tool cannot do it. The caller times the whole
process and checks the counts against the truth.
"""

import glob
import json
import os
import sys

KEY = "order_id"
VALUES = ["shop_id", "buyer", "amount", "price", "qty", "status", "created_at", "tags", "attrs"]


def arrow_tables(baseline, candidate):
    import pyarrow as pa
    import pyarrow.orc as orc

    def read(directory):
        files = sorted(glob.glob(os.path.join(directory, "*.orc")))
        return pa.concat_tables(orc.read_table(f) for f in files)

    return read(baseline), read(candidate)


def duckdb_diff(baseline, candidate):
    import duckdb

    b, c = arrow_tables(baseline, candidate)
    con = duckdb.connect()
    con.register("b", b)
    con.register("c", c)
    differs = " OR ".join(f"(b.{v} IS DISTINCT FROM c.{v})" for v in VALUES)
    row = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE c.{KEY} IS NULL),
               count(*) FILTER (WHERE b.{KEY} IS NULL),
               count(*) FILTER (WHERE b.{KEY} IS NOT NULL AND c.{KEY} IS NOT NULL AND ({differs}))
        FROM b FULL OUTER JOIN c ON b.{KEY} = c.{KEY}
        """
    ).fetchone()
    return {"only_in_baseline": row[0], "only_in_candidate": row[1], "changed": row[2]}


def polars_diff(baseline, candidate):
    import polars as pl

    b, c = (pl.from_arrow(t) for t in arrow_tables(baseline, candidate))
    joined = b.join(c, on=KEY, how="full", suffix="_c")
    both = pl.col(KEY).is_not_null() & pl.col(f"{KEY}_c").is_not_null()
    differs = pl.any_horizontal([pl.col(v).ne_missing(pl.col(f"{v}_c")) for v in VALUES])
    counts = joined.select(
        only_in_baseline=pl.col(f"{KEY}_c").is_null().sum(),
        only_in_candidate=pl.col(KEY).is_null().sum(),
        changed=(both & differs).sum(),
    ).row(0, named=True)
    return dict(counts)


def datacompy_diff(baseline, candidate):
    import datacompy

    b, c = (t.to_pandas() for t in arrow_tables(baseline, candidate))
    compare = getattr(datacompy, "PandasCompare", None) or datacompy.Compare
    compare = compare(b, c, join_columns=KEY, df1_name="baseline", df2_name="candidate")
    return {
        "only_in_baseline": len(compare.df1_unq_rows),
        "only_in_candidate": len(compare.df2_unq_rows),
        "changed": len(compare.all_mismatch()),
    }


def spark_diff(baseline, candidate):
    from pyspark.sql import SparkSession, functions as F

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    b = spark.read.orc(baseline).alias("b")
    c = spark.read.orc(candidate).alias("c")
    joined = b.join(c, F.col(f"b.{KEY}") == F.col(f"c.{KEY}"), "full_outer")
    differs = None
    maps = {f.name for f in b.schema.fields if f.dataType.typeName() == "map"}
    for v in VALUES:
        # Spark cannot compare maps (`<=>` refuses MAP); the usual workaround is their JSON text,
        # which depends on entry order.
        left, right = (F.to_json(F.col(f"{s}.{v}")) if v in maps else F.col(f"{s}.{v}") for s in ("b", "c"))
        term = ~left.eqNullSafe(right)
        differs = term if differs is None else differs | term
    both = F.col(f"b.{KEY}").isNotNull() & F.col(f"c.{KEY}").isNotNull()
    row = joined.select(
        F.sum(F.col(f"c.{KEY}").isNull().cast("int")),
        F.sum(F.col(f"b.{KEY}").isNull().cast("int")),
        F.sum((both & differs).cast("int")),
    ).collect()[0]
    spark.stop()
    return {"only_in_baseline": row[0], "only_in_candidate": row[1], "changed": row[2]}


TOOLS = {"duckdb": duckdb_diff, "polars": polars_diff, "datacompy": datacompy_diff, "spark": spark_diff}


def main():
    tool, baseline, candidate = sys.argv[1:4]
    try:
        result = TOOLS[tool](baseline, candidate)
    except Exception as error:  # the tool could not do the diff: say why, in one line
        result = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"}
    print(json.dumps({k: v if isinstance(v, str) else int(v) for k, v in result.items()}))


if __name__ == "__main__":
    main()
