//! The ORC scan is correct on exactly the points where datafusion-orc 0.10 is wrong with
//! DataFusion 55 (ENGINE-NOTES.md): expression projections, column order, Hive partition
//! columns, statistics; plus partition pruning and Hive's extension-less files.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use datafusion::catalog::TableProvider;
use datafusion::common::stats::Precision;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::{StatisticsArgs, StatisticsContext};
use datafusion::prelude::{SessionContext, col, lit};
use dqc_tests::{batch, orc_fixtures, path_str, runtime, write_orc_stripes, write_parquet_row_groups};
use verifier::{Dataset, DatasetScanExec, DatasetTable, Side};

async fn context(dataset: &str) -> (SessionContext, Arc<DatasetTable>) {
    let uri = path_str(&orc_fixtures().join(dataset));
    let dataset = Dataset::open(Side::Baseline, &uri, &Default::default()).await.expect("open fixture");
    let table = Arc::new(DatasetTable::new(Arc::new(dataset)));
    let context = SessionContext::new();
    context.register_table("t", table.clone()).expect("register");
    (context, table)
}

async fn query(context: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    context.sql(sql).await.expect("plan").collect().await.expect("execute")
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    arrow::compute::concat_batches(&batches[0].schema(), batches).expect("concat")
}

#[test]
fn expression_projections_are_evaluated() {
    runtime().block_on(async {
        let (context, _) = context("spark/baseline").await;
        let batch = concat(&query(&context, "SELECT id, c_int + 1 AS x, c_int, upper(c_string) AS u FROM t WHERE c_int IS NOT NULL ORDER BY id LIMIT 50").await);
        let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["id", "x", "c_int", "u"]);
        let x = batch.column(1).as_primitive::<Int64Type>();
        let c_int = arrow::compute::cast(batch.column(2), &arrow::datatypes::DataType::Int64).unwrap();
        let c_int = c_int.as_primitive::<Int64Type>();
        assert_eq!(batch.num_rows(), 50);
        for row in 0..batch.num_rows() {
            assert_eq!(x.value(row), c_int.value(row) + 1);
        }
        let upper = batch.column(3).as_string::<i32>();
        assert!(upper.value(0).starts_with('S'), "{}", upper.value(0));
    });
}

#[test]
fn columns_come_in_the_order_asked_not_the_file_order() {
    runtime().block_on(async {
        let (context, _) = context("spark/baseline").await;
        let batch = concat(&query(&context, "SELECT c_string, dt, id FROM t ORDER BY id LIMIT 1").await);
        let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["c_string", "dt", "id"]);
        assert_eq!(batch.column(0).as_string::<i32>().value(0), "s1-中文");
        assert_eq!(batch.column(2).as_primitive::<Int64Type>().value(0), 1);
    });
}

#[test]
fn hive_partition_columns_are_columns_and_group_by_works() {
    runtime().block_on(async {
        let (context, _) = context("spark/candidate").await;
        let batch = concat(&query(&context, "SELECT dt, count(*) AS n FROM t GROUP BY dt").await);
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.column(0).as_string::<i32>().value(0), "2024-05-01");
        assert_eq!(
            batch.column(1).as_primitive::<Int64Type>().value(0),
            999,
            "all three extension-less Hive files read"
        );
    });
}

#[test]
fn partition_filters_prune_files_and_rows() {
    runtime().block_on(async {
        let (context, table) = context("spark/baseline").await;
        let none = concat(&query(&context, "SELECT count(*) FROM t WHERE dt = '2024-05-02'").await);
        assert_eq!(none.column(0).as_primitive::<Int64Type>().value(0), 0);
        let all = concat(&query(&context, "SELECT count(*) FROM t WHERE dt = '2024-05-01'").await);
        assert_eq!(all.column(0).as_primitive::<Int64Type>().value(0), 1000);
        let state = context.state();
        let pruned = table.scan(&state, None, &[col("dt").eq(lit("2024-05-02"))], None).await.expect("scan");
        let statistics = StatisticsContext::new().compute(pruned.as_ref(), &StatisticsArgs::new()).unwrap();
        assert_eq!(statistics.num_rows, Precision::Exact(0), "no file survives the partition filter");
    });
}

#[test]
fn footer_row_counts_are_exact_statistics() {
    runtime().block_on(async {
        let (context, table) = context("spark/baseline").await;
        let state = context.state();
        let plan = table.scan(&state, Some(&vec![0, 5]), &[], None).await.expect("scan");
        let statistics = StatisticsContext::new().compute(plan.as_ref(), &StatisticsArgs::new()).unwrap();
        assert_eq!(statistics.num_rows, Precision::Exact(1000));
        let per_partition: usize = (0..plan.properties().partitioning.partition_count())
            .map(|p| {
                let stats = StatisticsContext::new()
                    .compute(plan.as_ref(), &StatisticsArgs::new().with_partition(Some(p)))
                    .unwrap();
                *stats.num_rows.get_value().unwrap()
            })
            .sum();
        assert_eq!(per_partition, 1000);
        let provider_statistics = table.statistics().expect("statistics");
        assert_eq!(provider_statistics.num_rows, Precision::Exact(1000));
        assert!(plan.schema().fields().len() == 2 && batch_nulls_ok(&query(&context, "SELECT c_int FROM t").await));
    });
}

#[test]
fn a_file_of_several_stripes_or_row_groups_is_read_by_several_partitions() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let batches: Vec<RecordBatch> = (0..6i64)
        .map(|i| batch(vec![("id", Arc::new(arrow::array::Int64Array::from_iter_values(i * 100..(i + 1) * 100)) as _)]))
        .collect();
    write_orc_stripes(&dir.path().join("orc/part-0.orc"), &batches);
    write_parquet_row_groups(&dir.path().join("parquet/part-0.parquet"), &batches);
    runtime().block_on(async {
        for format in ["orc", "parquet"] {
            let uri = path_str(&dir.path().join(format));
            let dataset = Arc::new(Dataset::open(Side::Baseline, &uri, &Default::default()).await.expect("open"));
            let plan = DatasetScanExec::new(dataset, vec![0], vec![0], 3);
            assert_eq!(plan.properties().partitioning.partition_count(), 3, "{format}");
            let task = SessionContext::new().task_ctx();
            let mut ids = Vec::new();
            for partition in 0..3 {
                let stream = plan.execute(partition, Arc::clone(&task)).expect("execute");
                let batches = datafusion::physical_plan::common::collect(stream).await.expect("read");
                let statistics = StatisticsContext::new()
                    .compute(&plan, &StatisticsArgs::new().with_partition(Some(partition)))
                    .expect("statistics");
                assert_eq!(statistics.num_rows, Precision::Exact(200), "{format} partition {partition}");
                assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 200, "{format} {partition}");
                ids.extend(batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()));
            }
            assert_eq!(ids, (0..600).collect::<Vec<i64>>(), "{format}: every row once, in file order");
        }
    });
}

/// NULLs survive the scan (the fixture has many).
fn batch_nulls_ok(batches: &[RecordBatch]) -> bool {
    batches.iter().map(|b| b.column(0).null_count()).sum::<usize>() > 0
}
