//! The pages in a real browser: Debian's chromium driven through chromium-driver (WebDriver, with
//! fantoccini) over `dqc demo` as shipped, at a phone's width (390 px, mobile emulation) and a
//! desktop's (1280 px). Each pass signs in, opens the overview, opens the inconsistent report
//! from its open problems, expands a column, pages the differing rows, starts a diff and watches
//! it finish, then checks and moves a workflow. On every page: no horizontal scrolling of the
//! page, and no serious or critical finding of axe-core (injected from npm's package); each page
//! is saved as a screenshot under `target/ui-screenshots/`.
//!
//! `scripts/browser-deps.sh` installs chromium, chromium-driver and axe-core when they are
//! missing (the test runs it); `DQC_BROWSER_TESTS=0` skips the test on a machine that cannot
//! have them, and says so.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// A process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The checkout's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Where the screenshots go: `target/ui-screenshots`.
fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `dqc demo` serving its reports: its URL and its admin token, once every report is in.
fn start_demo() -> (Killed, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dqc"))
        .args(["demo", "--port", "0", "--rows", "500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let child = Killed(child);
    let (mut url, mut token) = (None, None);
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("dqc demo: API on ") {
            url = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some((_, rest)) = line.split_once("Authorization: Bearer ") {
            token = rest.split('\'').next().map(str::to_owned);
        }
        if line.starts_with("Serving until") {
            break;
        }
    }
    (child, url.expect("the demo prints its URL"), token.expect("the demo prints its token"))
}

/// chromium-driver on a free port, answering.
async fn start_driver() -> (Killed, String) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".to_owned()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    crate::support::wait_until("chromedriver answers", Duration::from_secs(30), || async {
        reqwest::get(format!("{url}/status")).await.is_ok_and(|response| response.status().is_success())
    })
    .await;
    (Killed(child), url)
}

/// A browser session at `width` px: a phone (390, mobile emulation at twice the pixels) or a
/// desktop window.
async fn browser(driver: &str, phone: bool) -> Client {
    let mut options = json!({
        "binary": "/usr/bin/chromium",
        "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"],
    });
    if phone {
        options["mobileEmulation"] = json!({ "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 2 } });
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(capabilities).connect(driver).await.expect("a browser session")
}

/// What every page must pass: no horizontal scrolling of the page, no serious or critical
/// finding of axe-core; and its screenshot.
struct Checks {
    axe: String,
    prefix: &'static str,
    pages: Vec<String>,
}

impl Checks {
    async fn page(&mut self, client: &Client, name: &str) {
        let url = client.current_url().await.unwrap();
        let widths =
            client.execute("return [document.documentElement.scrollWidth, window.innerWidth];", vec![]).await.unwrap();
        let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(scroll <= inner, "{name} ({url}) scrolls sideways: {scroll} px wide in a {inner} px window");
        client.execute(&self.axe, vec![]).await.unwrap();
        let results = client
            .execute_async(
                "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}})\
                 .then(arguments[arguments.length - 1])",
                vec![],
            )
            .await
            .unwrap();
        let serious: Vec<String> = results["violations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(|v| format!("{} ({}): {}", v["id"], v["impact"], nodes(v)))
            .collect();
        assert!(serious.is_empty(), "axe-core on {name} ({url}):\n{}", serious.join("\n"));
        let png = client.screenshot().await.unwrap();
        std::fs::write(screenshots().join(format!("{}-{name}.png", self.prefix)), png).unwrap();
        self.pages.push(name.to_owned());
    }
}

fn nodes(violation: &Value) -> String {
    let targets: Vec<String> =
        violation["nodes"].as_array().into_iter().flatten().map(|node| node["target"].to_string()).collect();
    targets.join(", ")
}

async fn text_of(client: &Client, css: &str) -> String {
    client.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

/// Waits until `css` is on the page (the page may reload itself meanwhile).
async fn wait_for(client: &Client, css: &str, limit: Duration) -> fantoccini::elements::Element {
    client.wait().at_most(limit).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("`{css}`: {e}"))
}

/// The URL of the diff the form just asked for, once the browser is on its page: the form's page
/// stays until then, and it has an `h1` too.
async fn wait_for_diff_page(client: &Client) -> url::Url {
    let waited = std::time::Instant::now();
    loop {
        let url = client.current_url().await.unwrap();
        if url.path().starts_with("/diffs/") && url.path() != "/diffs/new" {
            wait_for(client, "main h1", Duration::from_secs(10)).await;
            return url;
        }
        assert!(waited.elapsed() < Duration::from_secs(10), "the form never went on to its diff: {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Gating: finance_report checked and moved (to the dual run on the phone, back on the desktop).
async fn gating(client: &Client, url: &str, checks: &mut Checks, phone: bool) {
    client.goto(&format!("{url}/gating")).await.unwrap();
    checks.page(client, "gating").await;
    let workflow = "ul.reports a[href='/gating/workflows/finance_report']";
    client.find(Locator::Css(workflow)).await.unwrap().click().await.unwrap();
    wait_for(client, "#move-title", Duration::from_secs(10)).await;
    let to = if phone { "dual_run" } else { "not_migrated" };
    client.find(Locator::Css("select[name=check]")).await.unwrap().select_by_value(to).await.unwrap();
    client.find(Locator::Css("form.filters button")).await.unwrap().click().await.unwrap();
    let outcome = wait_for(client, "#outcome-title", Duration::from_secs(10)).await;
    assert!(outcome.text().await.unwrap().contains("is allowed now"), "{}", outcome.text().await.unwrap());
    checks.page(client, "workflow-check").await;
    client.find(Locator::Css("select[name=to]")).await.unwrap().select_by_value(to).await.unwrap();
    client.find(Locator::Css("input[name=reason]")).await.unwrap().send_keys("browser test").await.unwrap();
    client.find(Locator::Css("form.stack button")).await.unwrap().click().await.unwrap();
    // (The page before the move has a history too: wait for the move in it.)
    let waited = std::time::Instant::now();
    loop {
        let history = match client.find(Locator::Css("#history-title + ul")).await {
            Ok(list) => list.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if history.contains(&format!("→ {to}")) {
            break;
        }
        assert!(waited.elapsed() < Duration::from_secs(10), "the move is not in the history: {history}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    checks.page(client, "workflow-moved").await;
}

/// One pass over the pages at one width.
async fn pass(client: &Client, url: &str, token: &str, checks: &mut Checks, phone: bool) {
    // Sign in: the form comes back to the overview.
    client.goto(&format!("{url}/login")).await.unwrap();
    checks.page(client, "sign-in").await;
    client.find(Locator::Id("token")).await.unwrap().send_keys(token).await.unwrap();
    client.find(Locator::Css("form.stack button")).await.unwrap().click().await.unwrap();
    wait_for(client, "#problems-title", Duration::from_secs(10)).await;
    assert_eq!(client.current_url().await.unwrap().path(), "/");
    checks.page(client, "overview").await;

    // The inconsistent report, from the open problems; a column expanded.
    // (The diff's report, of partition dt=2024-05-01: the inventory's reports name no partition.)
    let diffed = "//ul[@class='reports']/li[contains(., 'dt=2024-05-01')]/a[span[contains(@class, 'inconsistent')]]";
    client.find(Locator::XPath(diffed)).await.unwrap().click().await.unwrap();
    wait_for(client, "#columns", Duration::from_secs(10)).await;
    assert!(text_of(client, "h1").await.contains("shop.customers"));
    let summary = client.find(Locator::Css("#columns details summary")).await.unwrap();
    summary.click().await.unwrap();
    let open = client.execute("return document.querySelector('#columns details').open;", vec![]).await.unwrap();
    assert_eq!(open, json!(true), "the column's samples open");
    assert!(text_of(client, "#columns details").await.contains("@new.example"), "a changed e-mail is shown");
    checks.page(client, "report").await;
    let report = client.current_url().await.unwrap();

    // Its differing rows, two a page: the second page.
    let rows = client.find(Locator::LinkText("Differing rows")).await.unwrap().attr("href").await.unwrap().unwrap();
    client.goto(&format!("{url}{rows}?limit=2")).await.unwrap();
    assert!(text_of(client, "main").await.contains("Rows 1 to 2 of 5"));
    client.find(Locator::XPath("//nav[@class='pages']/a[contains(., 'next')]")).await.unwrap().click().await.unwrap();
    wait_for(client, "main h1", Duration::from_secs(10)).await;
    assert!(text_of(client, "main").await.contains("Rows 3 to 4 of 5"), "{}", text_of(client, "main").await);
    checks.page(client, "rows").await;

    // Diff again: the form is pre-filled; the progress page ends on the report.
    client.goto(report.as_str()).await.unwrap();
    client.find(Locator::LinkText("Diff again")).await.unwrap().click().await.unwrap();
    let table = wait_for(client, "#table", Duration::from_secs(10)).await;
    assert_eq!(table.prop("value").await.unwrap().as_deref(), Some("shop.customers"));
    checks.page(client, "diff-form").await;
    client.find(Locator::Css("form.stack button")).await.unwrap().click().await.unwrap();
    let progress = wait_for_diff_page(client).await;
    // dqc.js follows the diff in place, then goes on to its report.
    let waited = std::time::Instant::now();
    while !client.current_url().await.unwrap().path().starts_with("/reports/") {
        assert!(waited.elapsed() < Duration::from_secs(90), "the diff's page never went on to its report");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for(client, "#columns", Duration::from_secs(10)).await;
    assert_ne!(client.current_url().await.unwrap(), report, "a new report");
    // The finished diff's page (no longer polled) links to it.
    client.goto(progress.as_str()).await.unwrap();
    wait_for(client, "a.report-link", Duration::from_secs(10)).await;
    checks.page(client, "diff-done").await;

    gating(client, url, checks, phone).await;

    for (path, name) in [
        ("/tables", "tables"),
        ("/tables/shop.customers", "table"),
        ("/reports", "reports"),
        ("/diffs", "diffs"),
        ("/dead-letters", "dead-letters"),
        ("/inventories", "inventories"),
        ("/inventories/1", "inventory"),
        ("/inventories/1/tables?name=customers", "inventory-table"),
    ] {
        client.goto(&format!("{url}{path}")).await.unwrap();
        checks.page(client, name).await;
    }
    // Signing out ends on the sign-in page.
    client.find(Locator::Css("button.link")).await.unwrap().click().await.unwrap();
    wait_for(client, "#token", Duration::from_secs(10)).await;
}

#[test]
fn the_pages_work_in_a_real_browser_at_a_phones_width_and_a_desktops() {
    if std::env::var("DQC_BROWSER_TESTS").as_deref() == Ok("0") {
        eprintln!("DQC_BROWSER_TESTS=0: the browser test is skipped");
        return;
    }
    let installed = Command::new(root().join("scripts/browser-deps.sh")).status().unwrap();
    assert!(
        installed.success(),
        "scripts/browser-deps.sh could not install chromium, chromium-driver or axe-core (set DQC_BROWSER_TESTS=0 to skip)"
    );
    let _quiet = crate::support::quiet_machine();
    let axe = std::fs::read_to_string(root().join("api/tests/browser/node_modules/axe-core/axe.min.js")).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (_demo, url, token) = start_demo();
        let (_driver, driver) = start_driver().await;
        for (phone, prefix) in [(true, "phone"), (false, "desktop")] {
            let client = browser(&driver, phone).await;
            let mut checks = Checks { axe: axe.clone(), prefix, pages: Vec::new() };
            pass(&client, &url, &token, &mut checks, phone).await;
            let pages = [
                "sign-in",
                "overview",
                "report",
                "rows",
                "diff-form",
                "diff-done",
                "gating",
                "workflow-check",
                "workflow-moved",
                "tables",
                "table",
                "reports",
                "diffs",
                "dead-letters",
                "inventories",
                "inventory",
                "inventory-table",
            ];
            assert_eq!(checks.pages, pages, "every page was checked");
            client.close().await.unwrap();
        }
    });
}
