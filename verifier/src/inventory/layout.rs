//! A warehouse's layout: its files grouped into tables and partitions, and the filters that
//! choose which of them an inventory covers.
//!
//! A warehouse is a directory tree (in any store). A table is the directory that holds its
//! data files or its Hive partition directories (`dt=2024-05-01/`), named by its path under the
//! warehouse (`orders`, `sales.db/orders`; `.` when the warehouse is itself one table). A
//! partition is the chain of `k=v` directories under its table (`dt=2024-05-01/region=eu`;
//! empty for an unpartitioned table); directories below a partition's last `k=v` directory
//! (Hive's `-ext-10000/`, ACID deltas) hold files of that partition.
//!
//! A warehouse can also be a [`Catalog`]: tables and the location of each of their partitions
//! as a metastore knows them (a partition may lie anywhere, not only under its table's
//! location). Each location is listed on its own, a bounded number at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use object_store::ObjectStore;

use crate::error::{Error, Result};
use crate::source::Stores;
use crate::source::location::{self, ListedFile, partition_value};
use crate::spec::{Roots, Side};

/// The name of the table that is the warehouse itself.
pub(crate) const ROOT_TABLE: &str = ".";

/// One side's warehouse, listed.
pub(crate) struct Warehouse {
    /// Table -> partition -> its files.
    pub(crate) tables: BTreeMap<String, BTreeMap<String, PartitionFiles>>,
}

/// A partition's (or an unpartitioned table's) location and files.
#[derive(Clone)]
pub(crate) struct PartitionFiles {
    /// Its location, as `dqc diff` reads it.
    pub(crate) uri: String,
    pub(crate) store: Arc<dyn ObjectStore>,
    /// The store is remote: reads cost a round trip.
    pub(crate) remote: bool,
    /// In path order.
    pub(crate) files: Vec<ListedFile>,
    /// Why its location could not be listed (a catalog's partition): the partition is
    /// unreadable.
    pub(crate) unlisted: Option<String>,
}

/// A warehouse as a catalog (a Hive Metastore database) describes it.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tables: Vec<CatalogTable>,
}

/// A table of a catalog.
#[derive(Debug, Clone, Default)]
pub struct CatalogTable {
    /// Its name (without its database: a catalog is one database).
    pub name: String,
    /// Its declared columns and their types, in order, without the partition keys.
    pub columns: Vec<(String, String)>,
    /// Its partitions, each `(name, location)`: `dt=2024-05-01/h=3` (escaped as in Hive's
    /// paths), or an empty name for an unpartitioned table and its location.
    pub partitions: Vec<(String, String)>,
    /// Its declared primary key (lowercase), if any: the key of its deep comparisons and diffs
    /// when the inventory names none.
    pub primary_key: Vec<String>,
}

impl Warehouse {
    /// Lists the warehouse at `uri` in one walk of its tree, keeping the tables and partitions
    /// `filters` choose.
    pub(crate) async fn list(
        side: Side,
        uri: &str,
        roots: Option<&Roots>,
        stores: &Stores,
        filters: &Filters,
    ) -> Result<Self> {
        let listing = location::list(side, uri, roots, stores).await?;
        let uri = uri.trim_end_matches('/');
        let mut tables: BTreeMap<String, BTreeMap<String, PartitionFiles>> = BTreeMap::new();
        for file in listing.files {
            let Some(parts) = file.path.prefix_match(&listing.root) else {
                return Err(Error::InvalidLocation {
                    side,
                    uri: uri.to_owned(),
                    reason: "a warehouse is a directory of tables, not a file".to_owned(),
                });
            };
            let mut directories: Vec<String> = parts.map(|part| part.as_ref().to_owned()).collect();
            directories.pop();
            let (table, partition) = split(&directories);
            if !filters.keeps(&table, &partition) {
                continue;
            }
            let located =
                tables.entry(table.clone()).or_default().entry(partition.clone()).or_insert_with(|| PartitionFiles {
                    uri: partition_uri(uri, &table, &partition),
                    store: Arc::clone(&listing.store),
                    remote: listing.remote,
                    files: Vec::new(),
                    unlisted: None,
                });
            located.files.push(file);
        }
        Ok(Self { tables })
    }

    /// Lists each location of `catalog` that `filters` keep, `concurrency` at once. A location
    /// that holds no files is an empty partition; one that cannot be listed (a refused
    /// credential, a location outside the side's roots) makes its partition unreadable.
    pub(crate) async fn from_catalog(
        side: Side,
        catalog: &Catalog,
        roots: Option<&Roots>,
        stores: &Stores,
        filters: &Filters,
        concurrency: usize,
    ) -> Self {
        let kept = catalog.tables.iter().filter(|table| filters.keeps_table(&table.name)).flat_map(|table| {
            table
                .partitions
                .iter()
                .filter(|(partition, _)| filters.keeps(&table.name, partition))
                .map(move |(partition, location)| (table.name.as_str(), partition.as_str(), location.as_str()))
        });
        let listed: Vec<(&str, &str, PartitionFiles)> = futures::stream::iter(kept)
            .map(|(table, partition, uri)| async move {
                let files = match location::list(side, uri, roots, stores).await {
                    Ok(listing) => PartitionFiles {
                        uri: uri.to_owned(),
                        store: listing.store,
                        remote: listing.remote,
                        files: listing.files,
                        unlisted: None,
                    },
                    Err(error) => {
                        let unlisted = match error {
                            Error::LocationNotFound { .. } => None,
                            error => Some(format!("its location cannot be listed: {error}")),
                        };
                        PartitionFiles {
                            uri: uri.to_owned(),
                            store: Arc::new(object_store::memory::InMemory::new()),
                            remote: false,
                            files: Vec::new(),
                            unlisted,
                        }
                    }
                };
                (table, partition, files)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut tables: BTreeMap<String, BTreeMap<String, PartitionFiles>> = catalog
            .tables
            .iter()
            .filter(|table| filters.keeps_table(&table.name))
            .map(|table| (table.name.clone(), BTreeMap::new()))
            .collect();
        for (table, partition, files) in listed {
            tables.entry(table.to_owned()).or_default().insert(partition.to_owned(), files);
        }
        Self { tables }
    }
}

/// The URI of a partition (or of an unpartitioned table) under the warehouse at `root`.
fn partition_uri(root: &str, table: &str, partition: &str) -> String {
    [root, table, partition]
        .into_iter()
        .filter(|part| !part.is_empty() && *part != ROOT_TABLE)
        .collect::<Vec<_>>()
        .join("/")
}

/// `(table, partition)` of a file from the directories between the warehouse and the file.
fn split(directories: &[String]) -> (String, String) {
    let first = directories.iter().position(|d| partition_value(d).is_some()).unwrap_or(directories.len());
    let table = if first == 0 { ROOT_TABLE.to_owned() } else { directories[..first].join("/") };
    let partition: Vec<&str> =
        directories[first..].iter().map(String::as_str).take_while(|d| partition_value(d).is_some()).collect();
    (table, partition.join("/"))
}

/// Which tables and partitions an inventory covers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filters {
    /// Table name patterns (`*`, `?`); empty: every table.
    tables: Vec<String>,
    /// Conditions on partition values, all of which a partition must meet.
    partitions: Vec<Condition>,
}

/// `column op value` on a partition's values.
#[derive(Debug, Clone)]
struct Condition {
    column: String,
    op: Op,
    value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Filters {
    /// Parses table patterns and partition conditions (`dt>=2024-01-01`, `region=eu`).
    pub(crate) fn new(tables: &[String], partitions: &[String]) -> Result<Self> {
        let partitions = partitions.iter().map(|text| Condition::parse(text)).collect::<Result<_>>()?;
        Ok(Self { tables: tables.to_vec(), partitions })
    }

    /// Whether the table matches a pattern and the partition meets every condition. A condition
    /// on a column the partition does not have (an unpartitioned table) does not exclude it.
    fn keeps(&self, table: &str, partition: &str) -> bool {
        self.keeps_table(table)
            && self.partitions.iter().all(|condition| {
                let value = partition
                    .split('/')
                    .filter_map(partition_value)
                    .find_map(|(column, value)| column.eq_ignore_ascii_case(&condition.column).then_some(value));
                match value {
                    None => true,
                    Some(value) => condition.holds(value.as_deref()),
                }
            })
    }
}

impl Filters {
    /// Whether the table matches a pattern.
    fn keeps_table(&self, table: &str) -> bool {
        table_kept(&self.tables, table)
    }
}

impl Condition {
    fn parse(text: &str) -> Result<Self> {
        const OPS: [(&str, Op); 7] = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("!=", Op::Ne),
            ("<>", Op::Ne),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        let found = text.find(['<', '>', '=', '!']).and_then(|at| {
            OPS.iter().find(|(symbol, _)| text[at..].starts_with(symbol)).map(|(symbol, op)| (at, symbol.len(), *op))
        });
        let invalid = || {
            Error::InvalidOption(format!(
                "--partitions `{text}`: expected COLUMN OP VALUE with OP one of = != < <= > >= (e.g. dt>=2024-01-01)"
            ))
        };
        let (at, length, op) = found.ok_or_else(invalid)?;
        let column = text[..at].trim();
        let value = text[at + length..].trim().trim_matches(['\'', '"']);
        if column.is_empty() || value.is_empty() {
            return Err(invalid());
        }
        Ok(Self { column: column.to_owned(), op, value: value.to_owned() })
    }

    /// Compares as integers when both are, else as text (ISO dates order as text). Hive's NULL
    /// partition meets only `!=`.
    fn holds(&self, value: Option<&str>) -> bool {
        let Some(value) = value else { return self.op == Op::Ne };
        let order = match (value.parse::<i64>(), self.value.parse::<i64>()) {
            (Ok(a), Ok(b)) => a.cmp(&b),
            _ => value.cmp(self.value.as_str()),
        };
        match self.op {
            Op::Eq => order.is_eq(),
            Op::Ne => order.is_ne(),
            Op::Lt => order.is_lt(),
            Op::Le => order.is_le(),
            Op::Gt => order.is_gt(),
            Op::Ge => order.is_ge(),
        }
    }
}

/// Whether `table` matches one of `patterns` (`*`, `?`), or there are none.
pub fn table_kept(patterns: &[String], table: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|pattern| matches(pattern, table))
}

/// A shell-style pattern: `*` any run of characters, `?` one character.
fn matches(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // The classic two-pointer match with backtracking to the last `*`.
    let (mut p, mut t, mut star, mut resume) = (0, 0, None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            p += 1;
            resume = t;
        } else if let Some(at) = star {
            p = at + 1;
            resume += 1;
            t = resume;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(path: &str) -> Vec<String> {
        path.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect()
    }

    #[test]
    fn files_are_grouped_by_table_and_partition() {
        assert_eq!(split(&dirs("orders/dt=2024-01-01")), ("orders".into(), "dt=2024-01-01".into()));
        assert_eq!(split(&dirs("sales.db/orders/dt=1/h=2")), ("sales.db/orders".into(), "dt=1/h=2".into()));
        assert_eq!(split(&dirs("customers")), ("customers".into(), String::new()));
        assert_eq!(split(&dirs("dt=1")), (".".into(), "dt=1".into()));
        assert_eq!(split(&dirs("t/dt=1/-ext-10000")), ("t".into(), "dt=1".into()));
        assert_eq!(split(&[]), (".".into(), String::new()));
    }

    #[test]
    fn patterns_and_partition_conditions_filter() {
        for (pattern, text, expected) in [
            ("*", "orders", true),
            ("ord*", "orders", true),
            ("*s", "orders", true),
            ("o?ders", "orders", true),
            ("sales.db/*", "sales.db/orders", true),
            ("ord", "orders", false),
            ("*x*", "orders", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYd", false),
        ] {
            assert_eq!(matches(pattern, text), expected, "{pattern} {text}");
        }
        let filters = Filters::new(&["ord*".into()], &["dt>=2024-01-02".into(), "h < 10".into()]).unwrap();
        assert!(filters.keeps("orders", "dt=2024-01-02/h=9"));
        assert!(!filters.keeps("orders", "dt=2024-01-02/h=10"), "numbers compare as numbers");
        assert!(!filters.keeps("orders", "dt=2024-01-01/h=1"));
        assert!(filters.keeps("orders", ""), "a table without the column is kept");
        assert!(!filters.keeps("customers", "dt=2024-01-03"));
        assert!(!filters.keeps("orders", "dt=__HIVE_DEFAULT_PARTITION__"));
        for bad in ["dt", ">=1", "dt>=", "dt~1"] {
            let error = Filters::new(&[], &[bad.into()]).unwrap_err().to_string();
            assert!(error.contains(&format!("`{bad}`")), "{error}");
        }
    }
}
