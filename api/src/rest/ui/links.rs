//! Signed links: `/reports/{id}?exp=<unix seconds>&sig=<hex HMAC-SHA256>` opens report `id`,
//! read-only, until `exp`, without signing in. The key is made once and kept in the store
//! (shared by every instance on it). A link signs one report and its expiry; changing either
//! breaks the signature.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::Store;

/// The store's name of the key.
const KEY: &str = "report_links";

/// The key that signs report links (made on first use).
pub async fn key(store: &Store) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let mut fresh = [0_u8; 32];
    getrandom::fill(&mut fresh)?;
    let fresh: String = fresh.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(store.secret(KEY, &fresh).await?)
}

fn mac(key: &str, report: i64, expires: i64) -> Hmac<Sha256> {
    // An HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).expect("an HMAC key of any length");
    mac.update(format!("report:{report}:{expires}").as_bytes());
    mac
}

/// The query string of a link to `report` valid until `expires` (Unix seconds).
pub fn query(key: &str, report: i64, expires: i64) -> String {
    let signature: String =
        mac(key, report, expires).finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("exp={expires}&sig={signature}")
}

/// Whether `signature` signs `report` until `expires`, at `now` (Unix seconds): the reason
/// when it does not.
pub fn check(key: &str, report: i64, expires: i64, signature: &str, now: i64) -> Result<(), &'static str> {
    let bytes: Option<Vec<u8>> = (0..signature.len())
        .step_by(2)
        .map(|at| signature.get(at..at + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect();
    let valid = bytes.is_some_and(|bytes| mac(key, report, expires).verify_slice(&bytes).is_ok());
    match (valid, expires > now) {
        (false, _) => Err("this link's signature is not valid"),
        (true, false) => Err("this link has expired"),
        (true, true) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_opens_its_report_until_it_expires_and_not_once_changed() {
        let link = query("k", 12, 2000);
        let signature = link.split("sig=").nth(1).unwrap();
        assert_eq!(check("k", 12, 2000, signature, 1999), Ok(()));
        assert_eq!(check("k", 12, 2000, signature, 2000), Err("this link has expired"));
        assert_eq!(check("k", 13, 2000, signature, 1999), Err("this link's signature is not valid"));
        assert_eq!(check("k", 12, 9000, signature, 1999), Err("this link's signature is not valid"));
        assert_eq!(check("other", 12, 2000, signature, 1999), Err("this link's signature is not valid"));
        assert_eq!(check("k", 12, 2000, "zz", 1999), Err("this link's signature is not valid"));
    }
}
