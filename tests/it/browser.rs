//! The records stream in a real browser: Debian's headless Chromium (`cargo xtask ci` installs
//! it) loads a page from another origin that runs the README's `EventSource` example verbatim,
//! then resumes the same consumer instance over a `WebSocket` from the last event's id. The
//! page reports what it saw to the test's own little server; the test compares it with what
//! Kafka holds.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{self, TestProxy};
use crate::require_stack;

/// How long the browser has to start and report (Chromium starts slowly on a loaded machine).
const PATIENCE: Duration = Duration::from_secs(90);

/// The README's browser example, found by its fence after the stream section's heading.
fn readme_example() -> String {
    let readme = include_str!("../../README.md");
    let section = readme
        .find("### Records pushed as they arrive")
        .expect("the README's stream section");
    let start = readme[section..]
        .find("```html\n")
        .expect("an html example")
        + section
        + 8;
    let end = readme[start..].find("```").expect("the end of the example") + start;
    readme[start..end].to_string()
}

/// Headless Chromium showing `url`, in its own process group, killed with it when dropped.
struct Browser {
    child: Child,
    profile: std::path::PathBuf,
}

impl Browser {
    /// `None` (after one line) when Chromium is not installed and the stack is not required.
    fn open(url: &str) -> Option<Browser> {
        use std::os::unix::process::CommandExt;
        let installed = Command::new("chromium")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            if std::env::var_os("KAFKA_REST_REQUIRE_STACK").is_some() {
                panic!("chromium is not installed (`cargo xtask ci` installs Debian's chromium)");
            }
            eprintln!("skipped: no chromium (apt-get install chromium)");
            return None;
        }
        let profile = std::env::temp_dir().join(format!(
            "kafka-rest-it-chromium-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let child = Command::new("chromium")
            .args([
                "--headless",
                // The tests run as root in a container, where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--mute-audio",
                // Keeps the headless browser running until it is killed, showing `url`.
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn chromium");
        Some(Browser { child, profile })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        use nix::sys::signal::{killpg, Signal};
        use nix::unistd::Pid;
        // The browser's own processes (renderer, GPU, zygote) are in its group.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The page the browser loads, set once the proxy's address is known.
type Page = std::sync::Arc<std::sync::Mutex<String>>;

/// A server on its own loopback port (another origin than the proxy's) that serves `page` at
/// `/` and sends every body posted to `/report` to the returned channel.
async fn page_server(
    page: Page,
) -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<Value>,
    tokio::task::JoinHandle<()>,
) {
    use poem::listener::{Acceptor, TcpAcceptor};
    use poem::{get, handler, post, web::Data, EndpointExt, Route, Server};

    #[handler]
    fn show(Data(page): Data<&Page>) -> poem::web::Html<String> {
        poem::web::Html(page.lock().map(|p| p.clone()).unwrap_or_default())
    }

    #[handler]
    fn report(
        body: String,
        Data(reports): Data<&tokio::sync::mpsc::UnboundedSender<Value>>,
    ) -> &'static str {
        let _ = reports.send(serde_json::from_str(&body).unwrap_or(Value::String(body)));
        "ok"
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the page server");
    let acceptor = TcpAcceptor::from_tokio(listener).expect("acceptor");
    let origin = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .map(|a| format!("http://{a}"))
        .expect("a socket address");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = Route::new()
        .at("/", get(show))
        .at("/report", post(report))
        .data(page)
        .data(tx);
    let task = tokio::spawn(async move {
        let _ = Server::new_with_acceptor(acceptor).run(app).await;
    });
    (origin, rx, task)
}

/// What the page adds to the README example: once the example listed three records, it stops
/// the `EventSource`, reports the list, resumes the instance over a `WebSocket` from the last
/// event's id, and reports the next three records it gets there.
const REPORTER: &str = r#"<script>
  const report = (what) => fetch("/report", { method: "POST", body: JSON.stringify(what) });
  window.addEventListener("error", (event) => report({ error: String(event.message) }));
  const list = document.getElementById("records");
  // Listeners run in the order they were added: the example's own `onmessage` has listed the
  // record when this one runs.
  stream.addEventListener("message", (event) => {
    if (list.children.length === 3) resume(event.lastEventId);
  });
  stream.addEventListener("error", () => report({ error: "EventSource error", state: stream.readyState }));
  const resume = (lastId) => {
    stream.close();
    report({ sse: [...list.children].map((item) => item.textContent), last: lastId });
    const socket = new WebSocket(url.replace(/^http/, "ws") + "?last_event_id=" + encodeURIComponent(lastId));
    const more = [];
    socket.onmessage = (message) => {
      const { id, record } = JSON.parse(message.data);
      more.push([id, record.offset, atob(record.value)]);
      if (more.length === 3) {
        socket.close();
        report({ websocket: more });
      }
    };
    socket.onerror = () => report({ error: "WebSocket error" });
  };
</script>"#;

/// The next report of the page, failing on an error report or after [`PATIENCE`].
async fn next_report(reports: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Value {
    let report = tokio::time::timeout(PATIENCE, reports.recv())
        .await
        .unwrap_or_else(|_| panic!("the page reported nothing within {PATIENCE:?}"))
        .expect("the page server runs");
    assert!(report.get("error").is_none(), "the page failed: {report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_reads_the_stream_with_the_readme_example_and_resumes_it_over_a_websocket() {
    let stack = require_stack!();
    let page = Page::default();
    let (origin, mut reports, server) = page_server(page.clone()).await;
    let mut props = common::proxy_properties(&stack);
    props.set("access.control.allow.origin", origin.clone());
    let proxy = TestProxy::start_with(props).await;

    let topic = common::rand_topic("browser");
    common::create_topic(&stack, &topic, 1).await;
    common::produce_native(&stack, &topic, 0, 6).await;
    let group = common::rand_group("browser");
    let (status, created) = common::call(
        "POST",
        &proxy.url(&format!("/consumers/{group}")),
        None,
        Some(json!({"name": "browser", "format": "binary", "auto.offset.reset": "earliest"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let base = created["base_uri"].as_str().expect("base_uri").to_string();
    let (status, body) = common::call(
        "POST",
        &format!("{base}/assignments"),
        None,
        Some(json!({"partitions": [{"topic": topic, "partition": 0}]})),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let example = readme_example();
    let readme_url = "http://127.0.0.1:8082/consumers/my_binary_consumer/instances/my_consumer_instance/records/stream";
    assert!(example.contains(readme_url), "{example}");
    let html = format!(
        "<!doctype html>\n<html><body>\n{}\n{REPORTER}\n</body></html>\n",
        example.replace(readme_url, &format!("{base}/records/stream"))
    );
    *page.lock().expect("page") = html;
    let Some(_browser) = Browser::open(&format!("{origin}/")) else {
        proxy.stop().await;
        return;
    };

    let sse = next_report(&mut reports).await;
    assert_eq!(
        sse,
        json!({
            "sse": ["0/0: record-0", "0/1: record-1", "0/2: record-2"],
            "last": format!("{topic}:0:2"),
        })
    );
    let websocket = next_report(&mut reports).await;
    assert_eq!(
        websocket,
        json!({"websocket": [
            [format!("{topic}:0:3"), 3, "record-3"],
            [format!("{topic}:0:4"), 4, "record-4"],
            [format!("{topic}:0:5"), 5, "record-5"],
        ]})
    );
    server.abort();
    proxy.stop().await;
}
