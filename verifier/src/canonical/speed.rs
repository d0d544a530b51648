//! How long hashing each column takes, apart from decoding: `DQC_HASH_SPEED_DATA=DIR cargo test
//! --release --workspace --lib hash_speed -- --ignored --nocapture` reads the ORC files in DIR
//! once and times `Encode::combine_all` over every column (best of five), in ns per row, on one
//! thread. (`--workspace`: with `-p verifier` cargo would build DataFusion again with other
//! features.)

use std::time::{Duration, Instant};

use super::{Domain, encoder};

#[test]
#[ignore = "a measurement: needs DQC_HASH_SPEED_DATA"]
fn hash_speed() {
    let Ok(dir) = std::env::var("DQC_HASH_SPEED_DATA") else {
        println!("DQC_HASH_SPEED_DATA is not set: nothing measured");
        return;
    };
    let mut batches = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "orc")) {
        let file = std::fs::File::open(path).unwrap();
        let reader = orc_rust::ArrowReaderBuilder::try_new(file).unwrap().with_batch_size(crate::BATCH_SIZE).build();
        batches.extend(reader.map(Result::unwrap));
    }
    assert!(!batches.is_empty(), "no ORC file in {dir}");
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let schema = batches[0].schema();
    let (mut acc, mut scratch) = (vec![0u128; crate::BATCH_SIZE], Vec::new());
    let mut total = Duration::ZERO;
    for (index, field) in schema.fields().iter().enumerate() {
        let domain = Domain::unify(field.data_type(), field.data_type(), false).unwrap();
        let best = (0..5)
            .map(|_| {
                let started = Instant::now();
                for batch in &batches {
                    let column = batch.column(index);
                    encoder(column, &domain).unwrap().combine_all(&mut acc[..column.len()], &mut scratch);
                }
                started.elapsed()
            })
            .min()
            .unwrap();
        total += best;
        println!("{:<12} {:>6.1} ns/row", field.name(), best.as_nanos() as f64 / rows as f64);
    }
    println!("{:<12} {:>6.1} ns/row over {rows} rows", "all", total.as_nanos() as f64 / rows as f64);
}
