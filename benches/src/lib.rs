//! Benchmarks of dqc live in `benches/`: criterion benches (`cargo bench -p dqc-benches`) and,
//! as the scale work lands, scripts that time the CLI against other tools on the same data.
