//! The dashboard's pages and forms over plain HTTP against the real binary:
//! credentials, the content of every page, the forms acting like the REST
//! API (same permissions, cross-site posts refused, confirmation pages that
//! change nothing), and a slave's read-only dashboard naming the master.
//! The browser test is dashboard.rs.

use crate::common;
use crate::common::users as setup;

use common::cluster::*;
use common::http::{Http, Resp};

const FORM: &str = "application/x-www-form-urlencoded";

fn page(client: &Http, path: &str) -> String {
    let r = client.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{path}: {:?}",
        r.headers
    );
    r.text()
}

/// Asserts the dashboard's error page with this status (not JSON), with
/// its navigation and a way back; returns the page.
fn error_page(r: &Resp, status: u16) -> String {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{:?}: {}",
        r.headers,
        r.text()
    );
    let html = r.text();
    assert!(html.contains("<p class=\"error\">"), "{html}");
    assert!(
        html.contains("<a class=\"brand\" href=\"/dashboard\">"),
        "{html}"
    );
    assert!(html.contains(">Back</a>"), "{html}");
    html
}

fn location(r: &Resp) -> String {
    assert_eq!(r.status, 303, "{}", r.text());
    r.header("location").expect("Location").to_string()
}

fn send(client: &Http, queue: &str, body: &str) -> String {
    let form =
        serde_urlencoded::to_string([("body", body), ("persistent", "true"), ("priority", "7")])
            .expect("form");
    let r = client.post(
        &format!("/dashboard/queues/{queue}/send"),
        FORM,
        form.as_bytes(),
    );
    location(&r)
}

fn bodies(client: &Http, queue: &str) -> Vec<(i64, String)> {
    let page = client
        .get(&format!("/api/v1/queues/{queue}/messages"))
        .json();
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["id"].as_i64().expect("id"),
                m["body"].as_str().expect("body").to_string(),
            )
        })
        .collect()
}

#[test]
fn every_page_needs_credentials_and_shows_its_content() {
    let s = setup::start(&[]);
    let r = s.anon.get("/");
    assert_eq!(location(&r), "/dashboard");
    let css = s.anon.get("/dashboard/static/dashboard.css");
    assert_eq!(css.status, 200);
    assert!(css
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/css")));
    assert_eq!(s.anon.get("/dashboard/static/dashboard.js").status, 200);
    assert_eq!(s.anon.get("/dashboard/static/nope.js").status, 404);

    let r = s.ops.post(
        "/api/v1/queues/orders.one/messages?greeting=hi",
        "text/plain",
        b"<b>escaped</b>",
    );
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_i64().expect("id");
    assert_eq!(
        s.ops
            .post("/api/v1/topics/news/messages", "text/plain", b"x")
            .status,
        201
    );
    let pages = [
        "/dashboard",
        "/dashboard/queues",
        "/dashboard/topics",
        "/dashboard/connections",
        "/dashboard/subscriptions",
        "/dashboard/queues/orders.one",
        "/dashboard/live.json",
    ];
    for path in pages {
        let r = s.anon.get(path);
        let wrong = Http::basic(&s.b.admin, "ops", "wrong").get(path);
        if path.ends_with(".json") {
            r.expect_error(401);
            wrong.expect_error(401);
        } else {
            error_page(&r, 401);
            error_page(&wrong, 401);
        }
        assert!(r
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic")));
    }

    let overview = page(&s.ops, "/dashboard");
    assert!(overview.contains("<h1>Overview</h1>"), "{overview}");
    assert!(overview.contains("Lock holder"));
    let node_id = s.ops.get("/api/v1/status").json()["node_id"]
        .as_str()
        .expect("node id")
        .to_string();
    assert!(
        overview.contains(&format!("<tr data-node=\"{node_id}\">")),
        "{overview}"
    );
    assert!(overview.contains("id=\"rates\""), "the rate chart");
    assert!(!overview.contains("read-only"));

    let queues = page(&s.ops, "/dashboard/queues");
    assert!(queues.contains("<tr data-dest=\"orders.one\">"), "{queues}");
    assert!(queues.contains("href=\"/dashboard/queues/orders.one\""));
    assert!(!queues.contains("data-dest=\"news\""));
    let topics = page(&s.ops, "/dashboard/topics");
    assert!(topics.contains("<tr data-dest=\"news\">"), "{topics}");
    assert!(page(&s.ops, "/dashboard/connections").contains("No client connections."));
    assert!(page(&s.ops, "/dashboard/subscriptions").contains("No durable subscriptions."));

    let queue = page(&s.ops, "/dashboard/queues/orders.one");
    assert!(queue.contains(&format!("<tr data-id=\"{id}\">")), "{queue}");
    assert!(
        queue.contains("&#60;b&#62;escaped&#60;/b&#62;") || queue.contains("&lt;b&gt;escaped"),
        "{queue}"
    );
    assert!(!queue.contains("<b>escaped</b>"), "bodies are escaped");
    assert!(queue.contains("id=\"send\"") && queue.contains("id=\"purge\""));
    let message = page(
        &s.ops,
        &format!("/dashboard/queues/orders.one/messages/{id}"),
    );
    assert!(
        message.contains("greeting") && message.contains(">hi<"),
        "{message}"
    );
    assert!(message.contains("id=\"delete\""));

    let live = s.ops.get("/dashboard/live.json").json();
    assert_eq!(live["node"]["role"], "master");
    assert_eq!(live["queues"][0]["name"], "orders.one");
    assert_eq!(live["totals"]["enqueued"], 2);

    let missing = s.ops.get("/dashboard/queues/nothing.here");
    assert_eq!(missing.status, 404);
    assert!(
        missing.text().contains("does not exist"),
        "{}",
        missing.text()
    );
    assert_eq!(
        s.ops.get("/dashboard/queues/orders.one/messages/1").status,
        404
    );
}

#[test]
fn forms_act_like_the_api_with_the_same_permissions() {
    let s = setup::start(&[]);
    let to = send(&s.ops, "orders.a", "from the form");
    assert!(
        to.starts_with("/dashboard/queues/orders.a?notice=Sent+message+"),
        "{to}"
    );
    let sent = bodies(&s.ops, "orders.a");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, "from the form");
    let first = sent[0].0;
    let m = s
        .ops
        .get(&format!("/api/v1/queues/orders.a/messages/{first}"))
        .json();
    assert_eq!(m["priority"], 7);
    assert!(page(&s.ops, &to).contains("Sent message"));

    // Cross-site posts are refused before anything happens.
    let r = s.ops.request(
        "POST",
        "/dashboard/queues/orders.a/send",
        &[("Content-Type", FORM), ("Sec-Fetch-Site", "cross-site")],
        b"body=evil",
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = s.ops.request(
        "POST",
        "/dashboard/queues/orders.a/purge",
        &[("Origin", "http://evil.example")],
        b"",
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(bodies(&s.ops, "orders.a").len(), 1);

    // The confirmation pages only ask.
    let q = page(
        &s.ops,
        &format!("/dashboard/queues/orders.a/messages/{first}/move?to=orders.b"),
    );
    assert!(
        q.contains(&format!(
            "Move message {first} from queue orders.a to queue orders.b?"
        )),
        "{q}"
    );
    assert!(q.contains("name=\"to\" value=\"orders.b\""));
    let q = page(&s.ops, "/dashboard/queues/orders.a/purge");
    assert!(
        q.contains("Purge queue orders.a? Its 1 waiting message(s)"),
        "{q}"
    );
    let q = page(
        &s.ops,
        &format!("/dashboard/queues/orders.a/messages/{first}/delete"),
    );
    assert!(
        q.contains(&format!("Delete message {first} from queue orders.a?")),
        "{q}"
    );
    assert_eq!(bodies(&s.ops, "orders.a").len(), 1);

    // Move, delete, purge.
    let r = s.ops.post(
        &format!("/dashboard/queues/orders.a/messages/{first}/move"),
        FORM,
        b"to=orders.b",
    );
    assert!(location(&r).contains("notice=Moved+message"));
    assert!(bodies(&s.ops, "orders.a").is_empty());
    let moved = bodies(&s.ops, "orders.b");
    assert_eq!(moved.len(), 1);
    let r = s.ops.post(
        &format!("/dashboard/queues/orders.b/messages/{}/delete", moved[0].0),
        FORM,
        b"",
    );
    assert!(location(&r).contains("notice=Deleted+message"));
    assert!(bodies(&s.ops, "orders.b").is_empty());
    send(&s.ops, "orders.a", "one");
    send(&s.ops, "orders.a", "two");
    let r = s.ops.post("/dashboard/queues/orders.a/purge", FORM, b"");
    assert_eq!(
        location(&r),
        "/dashboard/queues/orders.a?notice=Purged+2+message%28s%29"
    );
    assert!(bodies(&s.ops, "orders.a").is_empty());

    // "app" may read and write orders.> but not administer.
    send(&s.app, "orders.a", "from app");
    let queue = page(&s.app, "/dashboard/queues/orders.a");
    assert!(queue.contains("id=\"send\""));
    assert!(!queue.contains("id=\"purge\""), "no purge without admin");
    let r = s.app.post("/dashboard/queues/orders.a/purge", FORM, b"");
    assert_eq!(r.status, 403);
    assert!(r.text().contains("lacks admin permission"), "{}", r.text());
    assert_eq!(s.app.get("/dashboard/connections").status, 403);
    assert_eq!(s.app.get("/dashboard/subscriptions").status, 403);
    let r = s.app.post("/dashboard/queues/other/send", FORM, b"body=x");
    assert_eq!(r.status, 403);
    assert_eq!(bodies(&s.ops, "orders.a").len(), 1);

    // Bad input is a page with a 4xx.
    let r = s.ops.post(
        "/dashboard/queues/orders.a/send",
        FORM,
        b"body=x&priority=12",
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("priority"), "{}", r.text());
    let r = s.ops.post(
        "/dashboard/queues/orders.a/messages/1/move",
        FORM,
        b"to=orders.a",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn every_dashboard_answer_is_a_page() {
    let s = setup::start(&[]);
    // A mistyped address.
    for path in ["/dashboard/destinations", "/dashboard/queues/a/b/c/d/e"] {
        let html = error_page(&s.ops.get(path), 404);
        assert!(html.contains("no such dashboard page"), "{html}");
    }
    // A refused permission (app may not purge) and a cross-site form.
    let html = error_page(
        &s.app.post("/dashboard/queues/orders.a/purge", FORM, b""),
        403,
    );
    assert!(html.contains("lacks"), "{html}");
    let r = s.ops.request(
        "POST",
        "/dashboard/queues/orders.a/send",
        &[("Content-Type", FORM), ("Origin", "http://evil.example")],
        b"body=x",
    );
    assert!(error_page(&r, 403).contains("cross-site request refused"));
    // A method the page does not take.
    error_page(&s.ops.delete("/dashboard/queues"), 405);
    // The API keeps its JSON errors.
    s.ops.get("/api/v1/destinations").expect_error(404);
    s.anon.get("/api/v1/queues").expect_error(401);
}

#[tokio::test]
async fn a_slave_dashboard_is_read_only_and_links_the_master() {
    let db = Db::sqlite();
    let nodes = start_cluster(&db, &Settings::fast(None), &["dash-a", "dash-b"]).await;
    let client = |n: &Node| {
        let pw = setup::generated_password(&n.lines()).expect("generated password in the log");
        Http::basic(&n.admin, "admin", &pw)
    };
    let (master, slave) = (client(&nodes[0]), client(&nodes[1]));
    send(&master, "work", "stored message");

    let overview = page(&slave, "/dashboard");
    assert!(
        overview.contains("is a <strong>slave</strong>: the dashboard is read-only"),
        "{overview}"
    );
    assert!(
        overview.contains("Master: <strong>dash-a</strong>"),
        "{overview}"
    );
    let link = format!("href=\"http://{}/dashboard\"", nodes[0].admin);
    assert!(overview.contains(&link), "{overview}");
    assert!(
        overview.contains("<tr data-node=\"dash-a\">")
            && overview.contains("<tr data-node=\"dash-b\">")
    );

    let queue = page(&slave, "/dashboard/queues/work");
    assert!(queue.contains("stored message"), "{queue}");
    assert!(
        !queue.contains("id=\"send\"") && !queue.contains("id=\"purge\""),
        "{queue}"
    );
    let r = slave.post("/dashboard/queues/work/send", FORM, b"body=x");
    let html = error_page(&r, 503);
    assert!(html.contains("this node is a slave"), "{html}");
    assert!(
        html.contains(&format!("{link}>The master's dashboard</a>")),
        "{html}"
    );
    let r = slave.post("/dashboard/queues/work/purge", FORM, b"");
    error_page(&r, 503);
    assert_eq!(bodies(&master, "work").len(), 1);
    let live = slave.get("/dashboard/live.json").json();
    assert_eq!(live["node"]["role"], "slave");
    assert_eq!(live["node"]["master"]["node_id"], "dash-a");
}
