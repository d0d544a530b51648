//! Every build of the workspace compiles each dependency once.
//!
//! Cargo resolves features per command: `cargo run -p api` switches on only what `api` asks for,
//! `cargo test --workspace` also what the other members and every dev-dependency ask for. A
//! dependency whose features differ is compiled again, and so is everything that depends on it
//! (one feature of `url` was enough to compile DataFusion twice). `dqc-workspace-hack` lists the
//! union of the features, and every member depends on it, so that all commands agree.
//!
//! This test asks Cargo for the unit graph of each command a user or CI runs (`--unit-graph`, a
//! resolution only: nothing is compiled) and checks that every dependency unit of every command
//! is one of the units of the reference build, `cargo test --workspace --all-targets` (and its
//! `--release` twin): same package, features, profile settings and, recursively, dependencies.
//! When they drift apart, it names the packages and the line of `Cargo.toml` each one needs;
//! `DQC_UPDATE_WORKSPACE_HACK=1 cargo test -p dqc-workspace-hack` rewrites the lists itself.
//!
//! `--unit-graph` is unstable, hence `RUSTC_BOOTSTRAP=1` for these resolutions only; its JSON
//! carries a version, checked here.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The commands whose dependency units must all be units of the reference build, by profile.
const DEV_PROBES: &[&str] = &[
    "build -p api --bin dqc", // the README's first command (`cargo run -p api --bin dqc -- demo`)
    "test --workspace",       // the README's second
    "build --workspace",
];
const RELEASE_PROBES: &[&str] =
    &["build --release -p api --bin dqc", "build --release --workspace --bins", "bench --workspace --no-run"];

#[test]
fn every_command_compiles_each_dependency_once() {
    let update = std::env::var_os("DQC_UPDATE_WORKSPACE_HACK").is_some();
    // Rewriting the hack changes its entry in Cargo.lock: cargo may update the lock then only.
    let cargo = CargoGraph::new(!update);
    // Rewriting the hack can pull packages into builds that did not have them: repeat until stable.
    for _ in 0..5 {
        let drift = cargo.drift();
        if drift.is_empty() {
            return;
        }
        if !update {
            panic!("{}", drift_message(&drift));
        }
        write_hack(&drift);
    }
    panic!("the workspace hack did not settle after five rewrites");
}

/// A package on one side of the build: the target, or the host (build scripts, proc macros).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct PackageOn {
    name: String,
    version: String,
    host: bool,
}

/// What a package needs in the hack: the features of the reference build, and the commands that
/// compile it otherwise.
#[derive(Debug, Default)]
struct Drift {
    features: Vec<String>,
    commands: Vec<String>,
}

#[derive(Debug)]
struct CargoGraph {
    cargo: String,
    host_triple: String,
    manifest: PathBuf,
    target_dir: PathBuf,
    locked: bool,
}

/// One command's units: the identity of each (package, target, features, profile settings, mode,
/// platform and, recursively, its dependencies) and the unit itself.
#[derive(Debug)]
struct Units {
    units: Vec<Value>,
    identities: Vec<u64>,
}

impl CargoGraph {
    fn new(locked: bool) -> Self {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
        let version = Command::new(rustc).arg("-vV").output().expect("run rustc -vV");
        let version = String::from_utf8(version.stdout).expect("rustc -vV prints UTF-8");
        let host_triple =
            version.lines().find_map(|line| line.strip_prefix("host: ")).expect("rustc -vV names the host");
        Self {
            cargo,
            host_triple: host_triple.to_owned(),
            manifest: Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"),
            // The outer `cargo test` may hold the lock of the real target directory.
            target_dir: Path::new(env!("CARGO_TARGET_TMPDIR")).join("unit-graph"),
            locked,
        }
    }

    /// Every package that some command compiles with other features than the reference build.
    fn drift(&self) -> BTreeMap<PackageOn, Drift> {
        let mut drift = BTreeMap::new();
        for (reference, probes) in [
            ("test --workspace --all-targets", DEV_PROBES),
            ("test --workspace --all-targets --release", RELEASE_PROBES),
        ] {
            let reference = self.units(reference);
            let known: HashSet<u64> = reference.identities.iter().copied().collect();
            let features = library_features(&reference.units);
            for probe in probes.iter().map(|probe| probe.to_string()).chain(self.member_probes(&reference.units)) {
                let units = self.units(&probe);
                for (unit, identity) in units.units.iter().zip(&units.identities) {
                    if is_member(unit) || known.contains(identity) || !is_library(unit) {
                        continue;
                    }
                    let package = package_on(unit);
                    let wanted = features.get(&package).unwrap_or_else(|| {
                        panic!("`{probe}` compiles {package:?}, which `cargo test --workspace` does not")
                    });
                    if unit_features(unit) != *wanted {
                        let entry: &mut Drift = drift.entry(package).or_default();
                        entry.features.clone_from(wanted);
                        if !entry.commands.contains(&probe) {
                            entry.commands.push(probe.clone());
                        }
                    }
                }
            }
        }
        drift
    }

    /// `cargo build -p M` and `cargo test -p M` for each member M.
    fn member_probes(&self, reference: &[Value]) -> Vec<String> {
        let mut members: Vec<String> =
            reference.iter().filter(|unit| is_member(unit)).map(|unit| package_on(unit).name).collect();
        members.sort();
        members.dedup();
        let release = reference.iter().any(|unit| unit["profile"]["opt_level"] == "3");
        let flag = if release { " --release" } else { "" };
        members
            .iter()
            .flat_map(|member| [format!("build{flag} -p {member}"), format!("test{flag} -p {member}")])
            .collect()
    }

    fn units(&self, command: &str) -> Units {
        let output = Command::new(&self.cargo)
            .args(command.split_whitespace())
            .args(self.locked.then_some("--locked"))
            .args(["--target", &self.host_triple, "--unit-graph", "-Z", "unstable-options", "--manifest-path"])
            .arg(&self.manifest)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .output()
            .unwrap_or_else(|error| panic!("run cargo {command}: {error}"));
        assert!(
            output.status.success(),
            "cargo {command} --unit-graph failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let graph: Value = serde_json::from_slice(&output.stdout).expect("the unit graph is JSON");
        assert_eq!(graph["version"], 1, "this check reads version 1 of cargo's unit graph");
        let units = graph["units"].as_array().expect("the unit graph lists units").clone();
        let mut identities = vec![None; units.len()];
        for index in 0..units.len() {
            identity(&units, index, &mut identities);
        }
        Units {
            units,
            identities: identities.into_iter().map(|identity| identity.expect("every unit has an identity")).collect(),
        }
    }
}

/// The identity of a unit as Cargo decides whether to compile it again: all of it but the
/// profile's name (`test` and `dev` build dependencies alike), and its dependencies' identities.
fn identity(units: &[Value], index: usize, identities: &mut [Option<u64>]) -> u64 {
    if let Some(known) = identities[index] {
        return known;
    }
    let unit = &units[index];
    let mut dependencies: Vec<u64> = unit["dependencies"]
        .as_array()
        .expect("a unit lists its dependencies")
        .iter()
        .map(|dependency| {
            identity(units, dependency["index"].as_u64().expect("a dependency index") as usize, identities)
        })
        .collect();
    dependencies.sort_unstable();
    let mut profile = unit["profile"].clone();
    profile.as_object_mut().expect("a profile is an object").remove("name");
    let mut hasher = DefaultHasher::new();
    (unit["pkg_id"].to_string(), unit["target"]["name"].to_string(), unit_features(unit), profile.to_string())
        .hash(&mut hasher);
    (unit["mode"].to_string(), unit["platform"].to_string(), dependencies).hash(&mut hasher);
    let identity = hasher.finish();
    identities[index] = Some(identity);
    identity
}

fn is_member(unit: &Value) -> bool {
    unit["pkg_id"].as_str().is_some_and(|id| id.starts_with("path+"))
}

/// A library (or proc macro) being compiled; build scripts follow their package's features.
fn is_library(unit: &Value) -> bool {
    unit["mode"] == "build" && unit["target"]["name"] != "build-script-build"
}

fn unit_features(unit: &Value) -> Vec<String> {
    let mut features: Vec<String> = unit["features"]
        .as_array()
        .expect("a unit lists its features")
        .iter()
        .map(|f| f.as_str().expect("a feature name").to_owned())
        .collect();
    features.sort();
    features
}

/// `registry+https://...#name@1.2.3`, or for members `path+file:///dir#name@0.1.0`, or
/// `path+file:///dir/name#0.1.0` when the directory is named after the package.
fn package_on(unit: &Value) -> PackageOn {
    let id = unit["pkg_id"].as_str().expect("a package id");
    let (source, tail) = id.rsplit_once('#').expect("a package id has a `#`");
    let (name, version) = match tail.split_once('@') {
        Some((name, version)) => (name, version),
        None => (source.rsplit('/').next().unwrap_or(source), tail),
    };
    // Build metadata (`2.1.2+zstd.1.5.7`) means nothing in a requirement, and Cargo warns about
    // it in one: versions are kept without it.
    let version = version.split('+').next().unwrap_or(version);
    PackageOn { name: name.to_owned(), version: version.to_owned(), host: unit["platform"].is_null() }
}

fn library_features(units: &[Value]) -> HashMap<PackageOn, Vec<String>> {
    units
        .iter()
        .filter(|unit| !is_member(unit) && is_library(unit))
        .map(|unit| (package_on(unit), unit_features(unit)))
        .collect()
}

fn drift_message(drift: &BTreeMap<PackageOn, Drift>) -> String {
    let mut message = String::from(
        "these dependencies would be compiled again with other features than `cargo test --workspace` uses;\n\
         add each line to workspace-hack/Cargo.toml (or run DQC_UPDATE_WORKSPACE_HACK=1 cargo test -p dqc-workspace-hack):\n",
    );
    for (package, entry) in drift {
        let section = if package.host { "[build-dependencies]" } else { "[dependencies]" };
        message.push_str(&format!(
            "  {section} {}\n      compiled otherwise by: cargo {}\n",
            hack_line(package, &entry.features, false),
            entry.commands.join("; cargo ")
        ));
    }
    message
}

fn hack_line(package: &PackageOn, features: &[String], renamed: bool) -> String {
    let features = features.iter().map(|feature| format!("\"{feature}\"")).collect::<Vec<_>>().join(", ");
    let version = &package.version;
    if renamed {
        let major: Vec<&str> = version.split('.').collect();
        let major = if major[0] == "0" { format!("{}_{}", major[0], major[1]) } else { major[0].to_owned() };
        let name = &package.name;
        format!(
            "{name}-{major} = {{ package = \"{name}\", version = \"{version}\", default-features = false, features = [{features}] }}"
        )
    } else {
        format!("{} = {{ version = \"{version}\", default-features = false, features = [{features}] }}", package.name)
    }
}

/// Adds the drifting packages to the hack's lists (keeping what is there) and writes it again.
fn write_hack(drift: &BTreeMap<PackageOn, Drift>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let manifest = std::fs::read_to_string(&path).expect("read workspace-hack/Cargo.toml");
    let document: toml_like::Hack = toml_like::parse(&manifest);
    let mut entries = document.entries;
    for (package, entry) in drift {
        entries.insert(package.clone(), entry.features.clone());
    }
    // A package in two versions anywhere in the hack is renamed by its version in both lists:
    // Cargo refuses one crate under two names in a manifest's dependency lists.
    let renamed = |name: &str| {
        let versions: std::collections::BTreeSet<&str> =
            entries.keys().filter(|other| other.name == name).map(|other| other.version.as_str()).collect();
        versions.len() > 1
    };
    let section = |host: bool| {
        let lines: Vec<String> = entries
            .iter()
            .filter(|(package, _)| package.host == host)
            .map(|(package, features)| hack_line(package, features, renamed(&package.name)))
            .collect();
        lines.join("\n")
    };
    let rewritten =
        format!("{}[dependencies]\n{}\n\n[build-dependencies]\n{}\n", document.head, section(false), section(true));
    std::fs::write(&path, rewritten).expect("write workspace-hack/Cargo.toml");
}

/// Reads back the lists this test writes (one dependency per line, in `hack_line`'s shape).
mod toml_like {
    use std::collections::BTreeMap;

    use super::PackageOn;

    #[derive(Debug)]
    pub(super) struct Hack {
        pub(super) head: String,
        pub(super) entries: BTreeMap<PackageOn, Vec<String>>,
    }

    pub(super) fn parse(manifest: &str) -> Hack {
        let (head, lists) =
            manifest.split_once("[dependencies]\n").expect("workspace-hack/Cargo.toml has a [dependencies] list");
        let mut entries = BTreeMap::new();
        let mut host = false;
        for line in lists.lines() {
            if line.starts_with("[build-dependencies]") {
                host = true;
            }
            let Some((key, rest)) = line.split_once(" = {") else { continue };
            let value = |field: &str| {
                rest.split_once(&format!("{field} = \""))
                    .map(|(_, tail)| tail.split('"').next().unwrap_or_default().to_owned())
            };
            let name = value("package").unwrap_or_else(|| key.trim().to_owned());
            let version = value("version").expect("a hack line has a version");
            let features = rest
                .split_once("features = [")
                .map(|(_, tail)| tail.split(']').next().unwrap_or_default())
                .unwrap_or_default();
            let features = features
                .split(',')
                .map(|feature| feature.trim().trim_matches('"').to_owned())
                .filter(|feature| !feature.is_empty())
                .collect();
            entries.insert(PackageOn { name, version, host }, features);
        }
        Hack { head: head.to_owned(), entries }
    }
}
