//! The browser dashboard in headless Chromium (Debian's chromium and
//! chromium-driver, driven over WebDriver with fantoccini) against the real
//! binary: log in with HTTP Basic credentials in the URL, send a message
//! with the form, find it in the browse list, purge the queue through the
//! confirmation page, and save a screenshot to dashboard.png in cargo's
//! per-build test folder (`CARGO_TARGET_TMPDIR`, under the target directory).
//! Plain HTTP checks of every page are in dashboard_http.rs.

use crate::common;
use crate::common::users as setup;

use common::browser::Driver;
use common::cluster::guard;
use fantoccini::{Client, Locator};
use std::time::Duration;

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

/// Waits until the element matching `css` contains `needle`.
async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    guard(&format!("{css} shows {needle:?}"), async {
        loop {
            if let Ok(e) = c.find(Locator::Css(css)).await {
                if let Ok(t) = e.text().await {
                    if t.contains(needle) {
                        return t;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

/// The first cell of each visible row of the destinations table.
async fn first_cells(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for row in c
        .find_all(Locator::Css("#dests tbody tr"))
        .await
        .expect("rows")
    {
        if row.is_displayed().await.expect("displayed") {
            let cell = row.find(Locator::Css("td")).await.expect("cell");
            out.push(cell.text().await.expect("text"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn send_browse_and_purge_in_a_browser() {
    let s = setup::start(&[]);
    // The queue exists once something was sent to it.
    let r = s.ops.post(
        "/api/v1/queues/orders.web/messages",
        "text/plain",
        b"first, over REST",
    );
    assert_eq!(r.status, 201, "{}", r.text());

    let r = s
        .ops
        .post("/api/v1/queues/orders.alpha/messages", "text/plain", b"a");
    assert_eq!(r.status, 201, "{}", r.text());

    let driver = Driver::start().await;
    let c = driver.browser().await;
    let admin = &s.b.admin;
    // Log in: Basic credentials in the URL; Chromium keeps them for the
    // origin, so later navigations, form posts and the script's polling
    // carry them too.
    c.goto(&format!("http://ops:ops-secret@{admin}/dashboard"))
        .await
        .expect("open the dashboard");
    assert_eq!(text_of(&c, "h1").await, "Overview");
    assert_eq!(text_of(&c, ".top .badge").await, "master");
    let node_row = text_of(&c, "#cluster tbody tr").await;
    assert!(node_row.contains("master"), "{node_row}");
    // The live rate appears once the script has polled live.json twice.
    guard("a live rate", async {
        while text_of(&c, "[data-live=\"rate-in\"]").await == "—" {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;

    c.goto(&format!("http://{admin}/dashboard/queues"))
        .await
        .expect("queues");
    let row = text_of(&c, "#dests tr[data-dest=\"orders.web\"]").await;
    assert!(row.starts_with("orders.web"), "{row}");
    // Sorted by name on the server; a click on the header reverses it.
    assert_eq!(first_cells(&c).await, ["orders.alpha", "orders.web"]);
    c.find(Locator::Css("#dests th"))
        .await
        .expect("name header")
        .click()
        .await
        .expect("sort");
    assert_eq!(
        first_cells(&c).await,
        ["orders.alpha", "orders.web"],
        "ascending first"
    );
    c.find(Locator::Css("#dests th"))
        .await
        .expect("name header")
        .click()
        .await
        .expect("sort");
    assert_eq!(first_cells(&c).await, ["orders.web", "orders.alpha"]);
    // The filter hides rows whose name does not match.
    c.find(Locator::Css("input.filter"))
        .await
        .expect("filter")
        .send_keys("web")
        .await
        .expect("type");
    assert_eq!(first_cells(&c).await, ["orders.web"]);
    c.find(Locator::LinkText("orders.web"))
        .await
        .expect("link to the queue")
        .click()
        .await
        .expect("click");
    assert_eq!(text_of(&c, "h1").await, "Queue orders.web");

    let body = "hello from the browser form";
    c.find(Locator::Css("#send textarea[name=body]"))
        .await
        .expect("send form")
        .send_keys(body)
        .await
        .expect("type");
    c.find(Locator::Css("#send button[type=submit]"))
        .await
        .expect("send button")
        .click()
        .await
        .expect("send");
    wait_text(&c, ".notice", "Sent message").await;
    let list = wait_text(&c, "#browse tbody", body).await;
    assert!(list.contains("first, over REST"), "{list}");
    let page = c.current_url().await.expect("url");
    assert!(
        page.path().ends_with("/dashboard/queues/orders.web"),
        "{page}"
    );
    let stored = s.ops.get("/api/v1/queues/orders.web/messages").json();
    let bodies: Vec<&str> = stored["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert_eq!(bodies, ["first, over REST", body]);
    let shot = c.screenshot().await.expect("screenshot");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, shot).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));

    // Purge: a link to a confirmation page, then the POST.
    c.find(Locator::Css("#purge"))
        .await
        .expect("purge link")
        .click()
        .await
        .expect("click purge");
    let question = text_of(&c, ".confirm p").await;
    assert!(question.contains("Purge queue orders.web"), "{question}");
    assert_eq!(
        s.ops.get("/api/v1/queues/orders.web").json()["depth"],
        2,
        "nothing is purged before the confirmation"
    );
    c.find(Locator::Css("#confirm"))
        .await
        .expect("confirm button")
        .click()
        .await
        .expect("confirm");
    wait_text(&c, ".notice", "Purged 2 message(s)").await;
    assert!(text_of(&c, "#empty").await.contains("No messages"));
    assert_eq!(s.ops.get("/api/v1/queues/orders.web").json()["depth"], 0);
    c.close().await.expect("close the browser");
}
