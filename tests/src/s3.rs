//! An S3-compatible server for the tests (moto, started by `scripts/s3-server.sh` on
//! 127.0.0.1, once per test binary; it stops when the binary exits), and helpers to fill it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path as FsPath;
use std::process::{Child, Command};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::{path_str, runtime};

/// The running server.
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    port: u16,
    _child: Child,
}

/// The server of this test binary, started on first use (the first run installs moto).
pub fn server() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(|| start(&[]))
}

/// A second server that checks credentials (moto's IAM: any access key it does not know is
/// refused with 403 `InvalidAccessKeyId`).
pub fn checking_server() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(|| start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]))
}

fn start(env: &[(&str, &str)]) -> S3Server {
    let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port();
    let script = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-server.sh");
    let mut child = Command::new(script)
        .arg(port.to_string())
        .envs(env.iter().copied())
        .spawn()
        .expect("scripts/s3-server.sh starts");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("scripts/s3-server.sh stopped ({status}) before it listened: see its message above");
        }
        assert!(started.elapsed() < Duration::from_secs(300), "scripts/s3-server.sh did not listen on {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
    S3Server { endpoint: format!("http://127.0.0.1:{port}"), port, _child: child }
}

/// `PUT /bucket`: moto does not check signatures, so a bare request creates it.
pub fn create_bucket(bucket: &str) {
    let port = server().port;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the S3 server");
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "create bucket {bucket}: {answer}");
}

/// The options of a store on the server: its endpoint over HTTP, a region, any key.
pub fn options(endpoint: &str) -> BTreeMap<String, String> {
    [
        ("endpoint", endpoint),
        ("allow_http", "true"),
        ("region", "us-east-1"),
        ("access_key_id", "dqc-test"),
        ("secret_access_key", "dqc-test-secret"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A client of `bucket` on the server.
pub fn bucket_store(bucket: &str) -> Arc<dyn ObjectStore> {
    let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
    for (key, value) in options(&server().endpoint) {
        builder = builder.with_config(key.parse().expect("an S3 option"), value);
    }
    Arc::new(builder.build().expect("an S3 client"))
}

/// Uploads every file under `dir` (hidden ones too) to `bucket` under `prefix`.
pub fn upload_dir(bucket: &str, dir: &FsPath, prefix: &str) {
    put_all(bucket_store(bucket).as_ref(), files_under(dir, prefix));
}

/// Every file under `dir` (hidden ones too) with its key: `prefix` and the relative path as it
/// is written (`ts=10%3A00` stays `%3A`).
pub fn files_under(dir: &FsPath, prefix: &str) -> Vec<(Path, Vec<u8>)> {
    let mut pending = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("a readable directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path_str(path.strip_prefix(dir).expect("under dir"));
                let key = Path::parse(format!("{prefix}{relative}")).expect("a valid key");
                files.push((key, std::fs::read(&path).expect("a readable file")));
            }
        }
    }
    files
}

/// Puts `files` into `store`.
pub fn put_all(store: &dyn ObjectStore, files: Vec<(Path, Vec<u8>)>) {
    runtime().block_on(async {
        for (key, bytes) in files {
            store.put(&key, PutPayload::from(bytes)).await.expect("put");
        }
    });
}
