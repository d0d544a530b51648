//! Inventories of warehouses written here: several tables partitioned by day, ORC and Parquet,
//! files split differently on each side, and every kind of finding an inventory must tell apart.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Decimal128Array, Int32Array, Int64Array, RecordBatch, StringArray};
use dqc_tests::{batch, orc_fixtures, path_str, runtime, write_orc, write_parquet};
use parquet::basic::Compression;
use verifier::Verdict;
use verifier::inventory::{
    InventoryReport, InventorySpec, Level, NoInventoryProgress, PartitionInventory, PartitionVerdict,
};

const DAYS: [&str; 6] = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-06"];

/// `orders` rows: `id`, `amount` (decimal(10,2): id * 1.50), `note` (`n{id}`), for ids `ids`.
fn orders(ids: impl Iterator<Item = i64> + Clone) -> RecordBatch {
    let amount = Decimal128Array::from_iter_values(ids.clone().map(|id| i128::from(id) * 150))
        .with_precision_and_scale(10, 2)
        .unwrap();
    batch(vec![
        ("id", Arc::new(Int64Array::from_iter_values(ids.clone())) as ArrayRef),
        ("amount", Arc::new(amount)),
        ("note", Arc::new(StringArray::from_iter_values(ids.map(|id| format!("n{id}"))))),
    ])
}

fn parquet(path: &Path, batch: RecordBatch) {
    write_parquet(path, &[batch], Compression::SNAPPY);
}

/// The two warehouses, with the ground truth of each partition (see the comments).
fn warehouses(root: &Path) -> (String, String) {
    let (b, c) = (root.join("baseline"), root.join("candidate"));
    // orders: one file a partition in the baseline, two in the candidate.
    for (day, index) in DAYS.iter().zip(0i64..) {
        let ids = index * 100..index * 100 + 100;
        let partition = format!("orders/dt={day}");
        if *day != "2024-01-06" {
            // 01 equal; 02 missing in the candidate; 03 one row fewer; 04 a value changed that
            // the footers cannot see; 05 a truncated file.
            parquet(&b.join(&partition).join("part-0.parquet"), orders(ids.clone()));
        }
        let (first, second) = (ids.start..ids.start + 40, ids.start + 40..ids.end);
        match *day {
            "2024-01-02" => continue,
            "2024-01-03" => {
                let removed = ids.start + 50;
                parquet(
                    &c.join(&partition).join("part-1.parquet"),
                    orders(second.clone().filter(move |id| *id != removed)),
                );
            }
            "2024-01-04" => {
                let mut changed = orders(second.clone());
                let notes: StringArray = second
                    .clone()
                    .map(|id| Some(if id == ids.start + 50 { format!("n{id}x") } else { format!("n{id}") }))
                    .collect();
                changed = RecordBatch::try_new(
                    changed.schema(),
                    vec![changed.column(0).clone(), changed.column(1).clone(), Arc::new(notes)],
                )
                .unwrap();
                parquet(&c.join(&partition).join("part-1.parquet"), changed);
            }
            _ => parquet(&c.join(&partition).join("part-1.parquet"), orders(second.clone())),
        }
        parquet(&c.join(&partition).join("part-0.parquet"), orders(first));
        if *day == "2024-01-05" {
            let path = c.join(&partition).join("part-1.parquet");
            let length = std::fs::metadata(&path).unwrap().len();
            std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(length / 2).unwrap();
        }
    }
    // customers: Parquet with statistics against ORC from orc-rust's writer, which keeps none.
    let customers = batch(vec![
        ("id", Arc::new(Int64Array::from_iter_values(0..50)) as ArrayRef),
        ("name", Arc::new(StringArray::from_iter_values((0..50).map(|i| format!("c{i}"))))),
    ]);
    parquet(&b.join("customers/part-0.parquet"), customers.clone());
    write_orc(&c.join("customers/000000_0"), &[customers]);
    // events: the candidate dropped a column.
    let events = orders(0..10);
    parquet(&b.join("events/dt=2024-01-01/part-0.parquet"), events.clone());
    parquet(&c.join("events/dt=2024-01-01/part-0.parquet"), events.project(&[0, 1]).unwrap());
    // items: `code` retyped from int to string; prices: a decimal written with another scale.
    let item =
        |code: ArrayRef| batch(vec![("id", Arc::new(Int64Array::from_iter_values(0..3)) as ArrayRef), ("code", code)]);
    parquet(&b.join("items/part-0.parquet"), item(Arc::new(Int32Array::from(vec![7, 8, 9]))));
    parquet(&c.join("items/part-0.parquet"), item(Arc::new(StringArray::from(vec!["7", "8", "9"]))));
    let price = |scale: i8, factor: i128| {
        let values = Decimal128Array::from_iter_values([105, 1050, 99].map(|v| v * factor))
            .with_precision_and_scale(12, scale)
            .unwrap();
        batch(vec![("id", Arc::new(Int64Array::from_iter_values(0..3)) as ArrayRef), ("price", Arc::new(values))])
    };
    parquet(&b.join("prices/dt=2024-01-01/part-0.parquet"), price(2, 1));
    parquet(&c.join("prices/dt=2024-01-01/part-0.parquet"), price(4, 100));
    (path_str(&b), path_str(&c))
}

fn run(spec: &InventorySpec) -> InventoryReport {
    runtime().block_on(verifier::inventory::inventory(spec, Arc::new(NoInventoryProgress))).unwrap()
}

fn partition<'a>(report: &'a InventoryReport, table: &str, name: &str) -> &'a PartitionInventory {
    let table = report.tables.iter().find(|t| t.name == table).unwrap_or_else(|| panic!("no table {table}"));
    table.partitions.iter().find(|p| p.partition == name).unwrap_or_else(|| panic!("no partition {name}"))
}

fn verdict(report: &InventoryReport, table: &str, name: &str) -> PartitionVerdict {
    partition(report, table, name).verdict
}

#[test]
fn footers_tell_missing_fewer_dropped_retyped_unreadable_and_not_comparable_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c) = warehouses(dir.path());
    let report = run(&InventorySpec::new(&b, &c));
    let text = report.to_text(10);
    assert_eq!(report.verdict, Verdict::Inconsistent, "{text}");
    assert_eq!(report.level, Level::Footers);
    use PartitionVerdict as V;
    assert_eq!(verdict(&report, "orders", "dt=2024-01-01"), V::EqualFooters, "{text}");
    assert_eq!(verdict(&report, "orders", "dt=2024-01-02"), V::MissingInCandidate);
    assert_eq!(verdict(&report, "orders", "dt=2024-01-06"), V::MissingInBaseline);
    let fewer = partition(&report, "orders", "dt=2024-01-03");
    assert_eq!(fewer.verdict, V::Different);
    assert_eq!(fewer.reason.as_deref(), Some("rows: 100 in the baseline, 99 in the candidate"));
    assert_eq!((fewer.baseline.as_ref().unwrap().files, fewer.candidate.as_ref().unwrap().files), (1, 2));
    // Same count, same minimum and maximum: invisible in the footers.
    assert_eq!(verdict(&report, "orders", "dt=2024-01-04"), V::EqualFooters, "{text}");
    let truncated = partition(&report, "orders", "dt=2024-01-05");
    assert_eq!(truncated.verdict, V::Unreadable);
    let reason = truncated.reason.as_deref().unwrap();
    assert!(reason.contains("candidate file") && reason.contains("orders/dt=2024-01-05/part-1.parquet"), "{reason}");

    let customers = partition(&report, "customers", "");
    assert_eq!(customers.verdict, V::EqualFooters, "{customers:?}");
    assert_eq!(customers.not_comparable, ["id", "name"]);
    assert!(customers.differences.is_empty());

    let events = partition(&report, "events", "dt=2024-01-01");
    assert_eq!(events.verdict, V::Different);
    assert_eq!(events.reason.as_deref(), Some("columns only in the baseline: note"));
    let items = partition(&report, "items", "");
    assert_eq!(items.reason.as_deref(), Some("column `code` retyped: int in the baseline, string in the candidate"));
    let prices = partition(&report, "prices", "dt=2024-01-01");
    assert_eq!(prices.verdict, V::EqualFooters, "{prices:?}");
    assert!(prices.not_comparable.is_empty(), "{prices:?}");
    let change = &prices.schema.type_changes[0];
    assert_eq!(
        (change.baseline.as_str(), change.candidate.as_str(), change.comparable),
        ("decimal(12,2)", "decimal(12,4)", true)
    );

    let summary = &report.summary;
    assert_eq!((summary.tables, summary.counts.partitions), (5, 10));
    let counts = &summary.counts;
    assert_eq!(
        (
            counts.equal_footers,
            counts.different,
            counts.missing_in_baseline,
            counts.missing_in_candidate,
            counts.unreadable
        ),
        (4, 3, 1, 1, 1)
    );
    let orders_line = text.lines().find(|l| l.starts_with("orders")).unwrap();
    assert_eq!(
        orders_line.split_whitespace().collect::<Vec<_>>(),
        ["orders", "0", "2", "1", "1", "1", "1", "0"],
        "{text}"
    );
    assert!(text.contains("dt=2024-01-03  different: rows: 100 in the baseline, 99 in the candidate"), "{text}");
    // The table of counts fits a terminal (a partition's reason names its file, at any length).
    assert!(
        text.lines().filter(|l| !l.starts_with("  ") && !l.contains(':')).all(|l| l.chars().count() <= 80),
        "{text}"
    );
}

#[test]
fn deep_finds_what_the_footers_cannot_and_diff_reports_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c) = warehouses(dir.path());
    let spec = InventorySpec { level: Level::Deep, diff: true, key: vec!["id".into()], ..InventorySpec::new(&b, &c) };
    let report = run(&spec);
    use PartitionVerdict as V;
    assert_eq!(verdict(&report, "orders", "dt=2024-01-01"), V::Equal);
    let changed = partition(&report, "orders", "dt=2024-01-04");
    assert_eq!(changed.verdict, V::Different, "{changed:?}");
    assert!(changed.reason.as_deref().unwrap().starts_with("the fingerprints differ in 1 of "), "{changed:?}");
    // ORC without statistics against Parquet: the same rows.
    assert_eq!(verdict(&report, "customers", ""), V::Equal);
    assert_eq!(verdict(&report, "prices", "dt=2024-01-01"), V::Equal);
    // The diff of the partition whose footers differ, keyed on `id`.
    let diff = partition(&report, "orders", "dt=2024-01-03").diff.as_ref().unwrap();
    assert_eq!(diff["summary"]["only_in_baseline"], 1, "{diff}");
    assert_eq!(diff["summary"]["matched"], 99);
    // orders' first day, customers and prices.
    assert_eq!(report.summary.counts.equal, 3);
}

#[test]
fn filters_choose_tables_and_partition_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c) = warehouses(dir.path());
    let spec = InventorySpec {
        tables: vec!["ord*".into(), "pri?es".into()],
        partitions: vec!["dt>=2024-01-03".into(), "dt<2024-01-06".into()],
        ..InventorySpec::new(&b, &c)
    };
    let report = run(&spec);
    let names: Vec<(&str, Vec<&str>)> = report
        .tables
        .iter()
        .map(|t| (t.name.as_str(), t.partitions.iter().map(|p| p.partition.as_str()).collect()))
        .collect();
    assert_eq!(names, [("orders", vec!["dt=2024-01-03", "dt=2024-01-04", "dt=2024-01-05"])]);
    let error = runtime()
        .block_on(verifier::inventory::inventory(
            &InventorySpec { partitions: vec!["dt~1".into()], ..InventorySpec::new(&b, &c) },
            Arc::new(NoInventoryProgress),
        ))
        .unwrap_err()
        .to_string();
    assert!(error.contains("--partitions `dt~1`"), "{error}");
}

#[test]
fn a_resumed_inventory_takes_finished_partitions_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c) = warehouses(dir.path());
    let checkpoint = dir.path().join("inventory.checkpoint");
    let spec = InventorySpec { checkpoint: Some(checkpoint.clone()), concurrency: 2, ..InventorySpec::new(&b, &c) };
    let first = run(&spec);
    assert_eq!(first.resumed_partitions, 0);
    // Break a finished partition's files: read again, it would be unreadable.
    let broken = dir.path().join("candidate/orders/dt=2024-01-01/part-0.parquet");
    std::fs::write(&broken, b"not parquet any more").unwrap();
    let resumed = run(&spec);
    assert_eq!(resumed.resumed_partitions, 10);
    let strip = |report: &InventoryReport| {
        let mut json = serde_json::to_value(report).unwrap();
        json["elapsed_ms"] = 0.into();
        json["resumed_partitions"] = 0.into();
        json
    };
    assert_eq!(strip(&first), strip(&resumed));
    let fresh = run(&InventorySpec::new(&b, &c));
    assert_eq!(verdict(&fresh, "orders", "dt=2024-01-01"), PartitionVerdict::Unreadable);
    // Another inventory's checkpoint is refused.
    let other = InventorySpec { level: Level::Deep, ..spec };
    let error = runtime()
        .block_on(verifier::inventory::inventory(&other, Arc::new(NoInventoryProgress)))
        .unwrap_err()
        .to_string();
    assert!(error.contains("written by another inventory"), "{error}");
}

#[test]
fn real_orc_writers_statistics_agree_on_the_same_rows() {
    // Spark's Java ORC writer and Arrow C++ wrote the same baseline: every statistic both keep
    // compares equal after normalisation (decimals, timestamps, strings with non-ASCII text).
    let fixtures = orc_fixtures();
    let spark = path_str(&fixtures.join("spark/baseline"));
    let report = run(&InventorySpec::new(&spark, path_str(&fixtures.join("arrow/baseline"))));
    let same = partition(&report, ".", "dt=2024-05-01");
    assert_eq!(same.verdict, PartitionVerdict::EqualFooters, "{same:#?}");
    for column in ["id", "c_int", "c_smallint", "c_double", "c_dec38", "c_dec10", "c_string", "c_date", "c_ts"] {
        assert!(!same.not_comparable.iter().any(|c| c == column), "{column}: {same:#?}");
    }
    // Against the candidate, which lost and gained rows.
    let report = run(&InventorySpec::new(&spark, path_str(&fixtures.join("spark/candidate"))));
    let different = partition(&report, ".", "dt=2024-05-01");
    assert_eq!(different.verdict, PartitionVerdict::Different);
    assert_eq!(different.reason.as_deref(), Some("rows: 1000 in the baseline, 999 in the candidate"));
}

#[test]
fn listing_only_opens_no_file_and_the_export_holds_every_partition() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c) = warehouses(dir.path());
    let report = run(&InventorySpec { level: Level::Listing, ..InventorySpec::new(&b, &c) });
    // The truncated file is not opened: its partition is only listed.
    assert_eq!(verdict(&report, "orders", "dt=2024-01-05"), PartitionVerdict::Listed);
    assert_eq!(verdict(&report, "orders", "dt=2024-01-02"), PartitionVerdict::MissingInCandidate);
    assert_eq!(partition(&report, "orders", "dt=2024-01-01").candidate.as_ref().unwrap().rows, None);

    let report = run(&InventorySpec::new(&b, &c));
    let export = dir.path().join("partitions.parquet");
    report.write_parquet(&export).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&export).unwrap())
            .unwrap()
            .build()
            .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 10);
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(&names[..4], ["table", "partition", "verdict", "reason"]);
}

#[test]
fn a_warehouse_in_an_object_store_gives_the_same_report_as_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c) = warehouses(dir.path());
    dqc_tests::s3::create_bucket("inventory");
    dqc_tests::s3::upload_dir("inventory", &dir.path().join("baseline"), "warehouse/");
    let stores = verifier::Stores::default()
        .with("s3://inventory", dqc_tests::s3::options(&dqc_tests::s3::server().endpoint))
        .unwrap();
    let spec = |baseline: &str| InventorySpec {
        level: Level::Deep,
        key: vec!["id".into()],
        stores: stores.clone(),
        ..InventorySpec::new(baseline, &c)
    };
    let local = run(&spec(&b));
    let remote = run(&spec("s3://inventory/warehouse"));
    let partitions = |report: &InventoryReport| {
        let mut json = serde_json::to_value(&report.tables).unwrap();
        for table in json.as_array_mut().unwrap() {
            for partition in table["partitions"].as_array_mut().unwrap() {
                partition["diff"] = serde_json::Value::Null;
                if partition["baseline"].is_object() {
                    partition["baseline"]["location"] = serde_json::Value::Null;
                }
            }
        }
        json
    };
    assert_eq!(partitions(&local), partitions(&remote));
    assert_eq!(remote.baseline, "s3://inventory/warehouse");
    assert_eq!(verdict(&remote, "orders", "dt=2024-01-04"), PartitionVerdict::Different);
    assert_eq!(verdict(&remote, "customers", ""), PartitionVerdict::Equal);
}
