//! What the UI tests share: the real service started in-process (real nats-server, a SQLite
//! file, a manual clock), keys issued like `referral admin key create`, a risk card posted
//! through the intake API that grades orange, a small HTTP client that keeps cookies (for
//! page tests without a browser), and a minimal WebDriver client driving headless Chromium
//! through `chromedriver` (for the browser tests).

#![allow(dead_code)]

use contracts::{DistrictCode, InstitutionCode, ManualClock};
use edge::Role;
use referral::{Application, Config};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use time::macros::datetime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// Runs a test scenario on a two-worker runtime whose threads have 8 MiB stacks: in debug
/// builds, loading the region's TOML catalogues (in `Application::build`) recurses deeper
/// than a default 2 MiB thread stack allows. The scenario runs as a task (on the heap).
pub fn run<F>(scenario: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move { tokio::spawn(Box::pin(scenario)).await.unwrap() });
}

/// The running service.
pub struct Service {
    pub addr: SocketAddr,
    pub store: eventstore::Store,
    pub clock: ManualClock,
    stop: watch::Sender<bool>,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _nats: testkit::NatsServer,
    _db: testkit::SqliteFile,
}

impl Service {
    /// Starts `referral serve` in-process at 2026-03-09 02:00 UTC (10:00 in Beijing).
    pub async fn start() -> Service {
        let nats = testkit::NatsServer::start().unwrap();
        let db = testkit::SqliteFile::create().unwrap();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let config = Config {
            database_url: db.url.clone(),
            nats_url: nats.url(),
            http_addr: "127.0.0.1:0".into(),
            scheduler_interval_ms: 20,
            region_file: format!("{root}/config/regions/default.toml"),
            reference_file: format!("{root}/config/reference/demo-city.toml"),
            near_miss_file: format!("{root}/config/catalogues/near-miss/who-2011.toml"),
            ..Config::default()
        };
        let clock = ManualClock::new(datetime!(2026-03-09 02:00 UTC));
        // Boxed: these futures are large in debug builds; on the stack they overflow it.
        let app = Box::pin(Application::build(config, Arc::new(clock.clone())))
            .await
            .unwrap();
        let addr = app.local_addr();
        let store = app.store().clone();
        let (stop, shutdown) = watch::channel(false);
        let running = tokio::spawn(Box::pin(app.run_until_stopped(shutdown)));
        Service {
            addr,
            store,
            clock,
            stop,
            running: Some(running),
            _nats: nats,
            _db: db,
        }
    }

    /// Issues a key (as `referral admin key create` does) and returns it.
    pub async fn key(&self, role: Role, institution: &str, district: &str) -> String {
        edge::issue_key(
            &self.store,
            role,
            InstitutionCode::parse(institution).unwrap(),
            DistrictCode::parse(district).unwrap(),
        )
        .await
        .unwrap()
        .1
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the service and waits for it.
    pub async fn stop(mut self) {
        self.stop.send(true).ok();
        if let Some(r) = self.running.take() {
            r.await.unwrap().unwrap();
        }
    }
}

/// A GB 11643 resident ID from its first 17 digits.
pub fn resident_id(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// An orange card (NYHA II heart disease) from hospital H430102-01 for a woman living in
/// district 430103, assessed at 09:30 Beijing time on 9 March 2026.
pub fn orange_card(card_id: &str, name: &str, seq: u32) -> Value {
    json!({
        "card_id": card_id,
        "institution_code": "H430102-01",
        "assessed_at": "2026-03-09T09:30:00+08:00",
        "assessor": "dr-017",
        "woman": {
            "id_type": "resident_id", "id_number": resident_id(&format!("43010319940514{seq:03}")), "name": name,
            "birth_date": "1994-05-14", "phone": "13812345678", "residence_district": "430103", "address": null
        },
        "pregnancy": { "lmp": "2025-12-01", "gestational_weeks": 14, "gestational_days": 1, "gravida": 2, "para": 1, "fetuses": 1 },
        "measurements": { "height_cm": 160.0, "weight_kg": 58.5 },
        "findings": ["O-CV-NYHA2"],
        "declared_colour": "orange",
        "critical": false,
        "note": null
    })
}

/// One HTTP/1.1 answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One raw HTTP/1.1 exchange (`Connection: close`), chunked bodies decoded.
pub async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Answer {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    // Read the head, then exactly the body (a server may keep the connection open).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let read = async {
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            if let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
                let body = buf.len() - split - 4;
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                let done = match length {
                    Some(len) => body >= len,
                    None if head.contains("transfer-encoding: chunked") => {
                        buf.ends_with(b"0\r\n\r\n")
                    }
                    None => n == 0,
                };
                if done {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("no answer to {method} {path} within 60 s"));
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let raw = &buf[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(raw) } else { raw.to_vec() };
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&raw[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
}

/// A JSON API call with a bearer key.
pub async fn api(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> Answer {
    let body = body.map(Value::to_string).unwrap_or_default();
    exchange(
        addr,
        method,
        path,
        &[
            ("Authorization", format!("Bearer {key}")),
            ("Content-Type", "application/json".into()),
        ],
        &body,
    )
    .await
}

/// Polls the API (bounded: 20 s) until `ready` holds for the JSON answer.
pub async fn poll(
    addr: SocketAddr,
    path: &str,
    key: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..800 {
        let a = api(addr, "GET", path, key, None).await;
        let v = a.json();
        if ready(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{path} never became ready");
}

/// A browser-less user of the pages: keeps cookies, posts forms.
pub struct PageClient {
    addr: SocketAddr,
    cookies: BTreeMap<String, String>,
}

impl PageClient {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, a: &Answer) {
        for (k, v) in &a.headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                let pair = v.split(';').next().unwrap_or_default();
                if let Some((name, value)) = pair.split_once('=') {
                    if v.contains("Max-Age=0") {
                        self.cookies.remove(name);
                    } else {
                        self.cookies.insert(name.to_owned(), value.to_owned());
                    }
                }
            }
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let a = exchange(
            self.addr,
            "GET",
            path,
            &[("Cookie", self.cookie_header())],
            "",
        )
        .await;
        self.keep(&a);
        a
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let a = exchange(
            self.addr,
            "POST",
            path,
            &[
                ("Cookie", self.cookie_header()),
                ("Content-Type", "application/x-www-form-urlencoded".into()),
            ],
            &body,
        )
        .await;
        self.keep(&a);
        a
    }

    /// Signs in with `key` through the sign-in form; returns the session's CSRF token.
    pub async fn sign_in(&mut self, key: &str) -> String {
        let form = self.get("/signin").await;
        assert_eq!(form.status, 200);
        let token = hidden(&form.body, "csrf").expect("the sign-in form has a CSRF token");
        let a = self
            .post("/signin", &[("csrf", &token), ("key", key)])
            .await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert!(self.cookie("hrp_session").is_some());
        let home = self.get("/").await;
        let landing = home.header("location").unwrap_or("/").to_owned();
        let page = self.get(&landing).await;
        hidden(&page.body, "csrf").expect("a signed-in page carries the CSRF token")
    }
}

/// The value of the first hidden input named `name` in a page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("input[type=hidden][name={name}]")).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .map(str::to_owned)
}

pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where the tests save screenshots: `$CARGO_TARGET_DIR/ui-artefacts` (else `target/`).
pub fn artefacts_dir() -> std::path::PathBuf {
    let base = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").to_owned());
    let dir = std::path::PathBuf::from(base).join("ui-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `chromedriver` on a free loopback port, killed on drop.
pub struct ChromeDriver {
    child: Child,
    pub port: u16,
}

impl ChromeDriver {
    pub async fn start() -> ChromeDriver {
        let port = testkit::free_port();
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) is installed");
        // Owned at once, so that every path (a panic included) kills and waits for it.
        let driver = ChromeDriver { child, port };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not start");
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A WebDriver session (W3C protocol over HTTP/1.1 to chromedriver).
pub struct Browser {
    driver: SocketAddr,
    session: String,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    /// Opens headless Chromium.
    pub async fn open(driver: &ChromeDriver) -> Browser {
        let addr: SocketAddr = format!("127.0.0.1:{}", driver.port).parse().unwrap();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--no-sandbox", "--headless=new", "--disable-gpu", "--window-size=1280,900", "--disable-dev-shm-usage"]
            }
        } } });
        let v = wd(addr, "POST", "/session", Some(&caps)).await;
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_owned();
        Browser {
            driver: addr,
            session,
        }
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let v = wd(
            self.driver,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
        .await;
        if v["value"]["error"].is_string() {
            panic!("WebDriver {method} {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (bounded: 10 s) until the address contains `part`, after a click that navigates;
    /// returns the address.
    pub async fn wait_url(&self, part: &str) -> String {
        for _ in 0..200 {
            let url = self.url().await;
            if url.contains(part) {
                // And the new document is ready.
                let state = self
                    .cmd(
                        "POST",
                        "/execute/sync",
                        Some(&json!({ "script": "return document.readyState", "args": [] })),
                    )
                    .await;
                if state == "complete" {
                    return url;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "never reached an address containing {part}: {}",
            self.url().await
        );
    }

    pub async fn source(&self) -> String {
        self.cmd("GET", "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element matching a CSS selector (panics when none).
    pub async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(&json!({ "using": "css selector", "value": css })),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    /// How many elements match.
    pub async fn count(&self, css: &str) -> usize {
        let v = self
            .cmd(
                "POST",
                "/elements",
                Some(&json!({ "using": "css selector", "value": css })),
            )
            .await;
        v.as_array().map_or(0, Vec::len)
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.cmd(
            "POST",
            &format!("/element/{el}/value"),
            Some(&json!({ "text": text })),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.cmd("POST", &format!("/element/{el}/click"), Some(&json!({})))
            .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.cmd("GET", &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Resizes the window (e.g. to a tablet's 820 × 1180).
    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(&json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// Saves a PNG screenshot of the page; returns its path.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        use base64::Engine;
        let v = self.cmd("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = artefacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(self) {
        wd(
            self.driver,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        )
        .await;
    }
}

async fn wd(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Value {
    let body = body.map(Value::to_string).unwrap_or_default();
    let a = exchange(
        addr,
        method,
        path,
        &[("Content-Type", "application/json".into())],
        &body,
    )
    .await;
    serde_json::from_str(&a.body)
        .unwrap_or_else(|_| panic!("WebDriver answered {}: {}", a.status, a.body))
}
