//! The `<broker>` element: its persistence adapter (data source, locker,
//! statements) and transport connectors.

use super::{datasource, Ctx};
use crate::config::ElectionConfig;
use roxmltree::Node;
use std::net::IpAddr;

fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(Node::is_element)
}

pub(super) fn translate<'a, 'i>(ctx: &mut Ctx<'a, 'i>, broker: Node<'a, 'i>) {
    for a in broker.attributes() {
        let msg = match (a.name(), a.value()) {
            ("brokerName", v) => format!(
                "brokerName=\"{v}\" is not translated: node_id (default hostname-adminport) must be unique per node"
            ),
            ("persistent", "false") => "persistent=\"false\" is not translated: Baton stores every message sent with persistent:true".into(),
            _ => continue,
        };
        ctx.warn(broker, msg);
    }
    ctx.warn_attributes(broker, &["brokerName", "persistent"]);
    for child in elements(broker) {
        match child.tag_name().name() {
            "persistenceAdapter" => {
                for store in elements(child) {
                    persistence_adapter(ctx, store);
                }
            }
            "transportConnectors" => connectors(ctx, child),
            "managementContext" => ctx.warn(
                child,
                "<managementContext> (JMX) is not translated: Baton has no JMX; see its admin HTTP server (admin.listen)",
            ),
            "networkConnectors" => ctx.warn(
                child,
                "<networkConnectors> is not translated: Baton has no network of brokers",
            ),
            other => ctx.warn(child, format!("<{other}> is not translated")),
        }
    }
}

fn persistence_adapter<'a, 'i>(ctx: &mut Ctx<'a, 'i>, store: Node<'a, 'i>) {
    match store.tag_name().name() {
        "jdbcPersistenceAdapter" => jdbc_adapter(ctx, store),
        "journaledJDBC" => {
            ctx.warn(
                store,
                "<journaledJDBC>: its journal is not translated, its data source is",
            );
            jdbc_adapter(ctx, store);
        }
        other => ctx.warn(
            store,
            format!(
                "<{other}> is not translated: it is a local file store; Baton's single-node store is SQLite (the default), several nodes share PostgreSQL or MySQL/MariaDB"
            ),
        ),
    }
}

/// Election settings gathered from the adapter and its locker.
#[derive(Default)]
struct Election<'a, 'i> {
    lease: Option<(u64, Node<'a, 'i>)>,
    keep_alive: Option<(u64, Node<'a, 'i>)>,
}

fn jdbc_adapter<'a, 'i>(ctx: &mut Ctx<'a, 'i>, adapter: Node<'a, 'i>) {
    ctx.warn(
        adapter,
        "messages stored in ActiveMQ's tables (ACTIVEMQ_MSGS) are not migrated: drain the queues before switching to Baton",
    );
    let nested = elements(adapter).find(|n| n.tag_name().name() == "dataSource");
    let reference = adapter.attribute("dataSource").or_else(|| {
        nested
            .and_then(|d| elements(d).find(|n| n.tag_name().name() == "ref"))
            .and_then(|r| r.attribute("bean"))
    });
    let inline = nested.and_then(|d| elements(d).find(|n| n.tag_name().name() == "bean"));
    match (reference, inline) {
        (Some(r), _) => {
            let id = r.trim_start_matches('#');
            match ctx.beans.get(id).copied() {
                Some(bean) => {
                    ctx.used_beans.push(bean);
                    datasource::translate(ctx, id, bean);
                }
                None => ctx.warn(
                    adapter,
                    format!("dataSource=\"{r}\" names no <bean id=\"{id}\"> in this file; database.url is not translated"),
                ),
            }
        }
        (None, Some(bean)) => datasource::translate(ctx, "(inline)", bean),
        (None, None) => ctx.warn(
            adapter,
            "no dataSource: ActiveMQ's default is an embedded Derby database; Baton's single-node equivalent is its default SQLite store",
        ),
    }
    let mut election = Election::default();
    if let Some(v) = adapter.attribute("lockKeepAlivePeriod") {
        match v.trim().parse::<u64>() {
            Ok(0) => ctx.warn(
                adapter,
                "lockKeepAlivePeriod=\"0\" (no keep-alive) is not translated: a Baton master always renews its lease",
            ),
            Ok(ms) => election.keep_alive = Some((ms, adapter)),
            Err(_) => ctx.warn(adapter, format!("lockKeepAlivePeriod=\"{v}\" is not a number; not translated")),
        }
    }
    if adapter.attribute("createTablesOnStartup") == Some("false") {
        ctx.warn(
            adapter,
            "createTablesOnStartup=\"false\" is not translated: Baton always creates and migrates its own tables at start",
        );
    }
    for flag in ["useDatabaseLock", "useLock"] {
        if adapter.attribute(flag) == Some("false") {
            ctx.warn(
                adapter,
                format!("{flag}=\"false\" is not translated: Baton nodes always elect one master through the database"),
            );
        }
    }
    ctx.warn_attributes(
        adapter,
        &[
            "dataSource",
            "lockKeepAlivePeriod",
            "createTablesOnStartup",
            "useDatabaseLock",
            "useLock",
        ],
    );
    for child in elements(adapter) {
        match child.tag_name().name() {
            "locker" => {
                for locker in elements(child) {
                    self::locker(ctx, locker, &mut election);
                }
            }
            "statements" => {
                for s in elements(child) {
                    statements(ctx, s);
                }
            }
            "dataSource" if reference.is_some() || inline.is_some() => {}
            "adapter" => ctx.warn(
                child,
                "<adapter> is not needed: Baton picks its SQL from database.url",
            ),
            other => ctx.warn(
                child,
                format!(
                    "<{other}> of <{}> is not translated",
                    adapter.tag_name().name()
                ),
            ),
        }
    }
    apply_election(ctx, &election);
}

fn locker<'a, 'i>(ctx: &mut Ctx<'a, 'i>, locker: Node<'a, 'i>, election: &mut Election<'a, 'i>) {
    match locker.tag_name().name() {
        "lease-database-locker" => {
            ctx.out.set_str(
                "election.mode",
                "lease",
                Some("lease-database-locker: take over only after the lease expired".into()),
            );
            if let Some(v) = locker.attribute("lockAcquireSleepInterval") {
                match v.trim().parse::<u64>() {
                    Ok(ms) => election.lease = Some((ms, locker)),
                    Err(_) => ctx.warn(
                        locker,
                        format!("lockAcquireSleepInterval=\"{v}\" is not a number; not translated"),
                    ),
                }
            }
            if let Some(id) = locker.attribute("leaseHolderId") {
                if let Some(id) = ctx.literal(locker, "node_id", "leaseHolderId", id) {
                    ctx.out.set_str(
                        "node_id",
                        &id,
                        Some("lease-database-locker leaseHolderId (unique per node)".into()),
                    );
                }
            }
            if locker.attribute("maxAllowableDiffFromDBTime").is_some() {
                ctx.warn(
                    locker,
                    "maxAllowableDiffFromDBTime is not needed: Baton compares lease times on the database's clock only",
                );
            }
            ctx.warn_attributes(
                locker,
                &[
                    "lockAcquireSleepInterval",
                    "leaseHolderId",
                    "maxAllowableDiffFromDBTime",
                ],
            );
        }
        name @ ("database-locker" | "transact-database-locker") => {
            ctx.warn(
                locker,
                format!("<{name}> maps to Baton's default election (session lock, immediate failover when the master dies); its attributes are not translated"),
            );
            ctx.warn_attributes(locker, &[]);
        }
        other => ctx.warn(locker, format!("<{other}> is not translated")),
    }
}

fn statements<'a, 'i>(ctx: &mut Ctx<'a, 'i>, s: Node<'a, 'i>) {
    if let Some(prefix) = s.attribute("tablePrefix") {
        if let Some(prefix) = ctx.literal(s, "database.table_prefix", "tablePrefix", prefix) {
            let ok = prefix.len() <= 32
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if ok && !prefix.is_empty() {
                ctx.out.set_str(
                    "database.table_prefix",
                    &prefix,
                    Some("statements tablePrefix (Baton's own tables: <prefix>msgs, <prefix>lock, ...)".into()),
                );
            } else {
                ctx.warn(
                    s,
                    format!("tablePrefix=\"{prefix}\" is not translated: database.table_prefix must be 1 to 32 characters of A-Z, a-z, 0-9 and _"),
                );
            }
        }
    }
    ctx.warn_attributes(s, &["tablePrefix"]);
}

/// Sets the lease and renewal, keeping them valid for Baton
/// (`renew_ms < lease_ms - margin_ms`).
fn apply_election(ctx: &mut Ctx, e: &Election) {
    let defaults = ElectionConfig::default();
    let margin = defaults.margin_ms;
    let mut lease = defaults.lease_ms;
    if let Some((ms, node)) = e.lease {
        if ms > margin + 1 {
            lease = ms;
            ctx.out.set_int(
                "election.lease_ms",
                ms,
                Some(
                    "lease-database-locker lockAcquireSleepInterval (ActiveMQ's lease duration)"
                        .into(),
                ),
            );
        } else {
            ctx.warn(
                node,
                format!("lockAcquireSleepInterval=\"{ms}\" is not translated: election.lease_ms must exceed election.margin_ms ({margin} ms)"),
            );
        }
    }
    let limit = lease - margin;
    match e.keep_alive {
        Some((ms, _)) if ms < limit => ctx.out.set_int(
            "election.renew_ms",
            ms,
            Some("jdbcPersistenceAdapter lockKeepAlivePeriod".into()),
        ),
        Some((ms, node)) => {
            ctx.warn(
                node,
                format!("lockKeepAlivePeriod=\"{ms}\" is not translated: Baton needs election.renew_ms below election.lease_ms - election.margin_ms ({limit} ms), or the lease would expire between renewals"),
            );
            if defaults.renew_ms >= limit {
                ctx.out.set_int(
                    "election.renew_ms",
                    (limit / 2).max(1),
                    Some("half of lease_ms - margin_ms".into()),
                );
            }
        }
        None if defaults.renew_ms >= limit => {
            ctx.out.set_int(
                "election.renew_ms",
                (limit / 2).max(1),
                Some("half of lease_ms - margin_ms".into()),
            );
        }
        None => {}
    }
}

/// What a connector's scheme speaks.
enum Speaks {
    Stomp,
    StompTls,
    OpenWire,
    Other,
}

fn classify(scheme: &str) -> Speaks {
    match scheme {
        "stomp" | "stomp+nio" | "auto" | "auto+nio" => Speaks::Stomp,
        s if s.starts_with("stomp") || s.starts_with("auto") => Speaks::StompTls,
        "tcp" | "nio" | "ssl" | "nio+ssl" => Speaks::OpenWire,
        _ => Speaks::Other,
    }
}

fn connectors<'a, 'i>(ctx: &mut Ctx<'a, 'i>, list: Node<'a, 'i>) {
    let mut stomp_set = false;
    let mut openwire_set = false;
    for c in elements(list) {
        ctx.warn_attributes(c, &["name", "uri"]);
        let Some(raw) = c.attribute("uri") else {
            ctx.warn(
                c,
                format!("<{}> without uri is not translated", c.tag_name().name()),
            );
            continue;
        };
        let Some(uri) = ctx.literal(c, "stomp.listen", "transport connector uri", raw) else {
            continue;
        };
        let (scheme, rest) = uri.split_once("://").unwrap_or((uri.as_str(), ""));
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        match classify(scheme) {
            Speaks::Stomp if stomp_set => ctx.warn(
                c,
                format!("{uri} is not translated: Baton has one STOMP listener (the first STOMP connector)"),
            ),
            Speaks::Stomp => {
                if listen(ctx, c, "stomp.listen", authority, format!("transport connector {uri}")) {
                    stomp_set = true;
                    if scheme.starts_with("auto") {
                        ctx.warn(c, format!("{uri}: Baton speaks only STOMP on this port (OpenWire clients use openwire.listen; no AMQP or MQTT)"));
                    }
                    connector_options(ctx, c, query, "stomp");
                }
            }
            Speaks::StompTls => ctx.warn(
                c,
                format!("{uri} is not translated: TLS listeners are configured separately"),
            ),
            Speaks::OpenWire if scheme == "ssl" || scheme == "nio+ssl" => ctx.warn(
                c,
                format!("{uri} is not translated: TLS is configured separately (stomp.tls_cert and stomp.tls_key; openwire.listen then speaks TLS, for ssl:// client URLs)"),
            ),
            Speaks::OpenWire if openwire_set => ctx.warn(
                c,
                format!("{uri} is not translated: Baton has one OpenWire listener (the first OpenWire connector)"),
            ),
            Speaks::OpenWire => {
                if listen(ctx, c, "openwire.listen", authority, format!("transport connector {uri}")) {
                    openwire_set = true;
                    connector_options(ctx, c, query, "openwire");
                }
            }
            Speaks::Other => ctx.warn(
                c,
                format!("{uri} is not translated: Baton speaks only STOMP"),
            ),
        }
    }
}

/// Sets listener `key` from `host:port`; false (with a warning) if it is
/// no IP address and port.
fn listen(ctx: &mut Ctx, node: Node, key: &'static str, authority: &str, comment: String) -> bool {
    let (host, p) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p.parse::<u16>().ok()),
        _ => (authority, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "localhost" => Some(IpAddr::from([127, 0, 0, 1])),
        h => h.parse::<IpAddr>().ok(),
    };
    let (Some(ip), Some(p)) = (ip, p) else {
        ctx.warn(
            node,
            format!("{key} needs IP:port; \"{authority}\" is not translated"),
        );
        return false;
    };
    let addr = std::net::SocketAddr::new(ip, p);
    ctx.out.set_str(key, &addr.to_string(), Some(comment));
    true
}

/// The options of the STOMP or OpenWire connector (`protocol`).
fn connector_options(ctx: &mut Ctx, node: Node, query: &str, protocol: &str) {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match (k, v.parse::<u64>(), protocol) {
            ("wireFormat.maxDataLength", Ok(n), "stomp") if n > 0 => ctx.out.set_int(
                "stomp.max_body_bytes",
                n,
                Some("STOMP connector wireFormat.maxDataLength".into()),
            ),
            ("wireFormat.maxFrameSize", Ok(n), "openwire") if n > 0 => ctx.out.set_int(
                "openwire.max_frame_bytes",
                n,
                Some("OpenWire connector wireFormat.maxFrameSize".into()),
            ),
            ("maximumConnections", Ok(n), _) if n > 0 => {
                let comment = || Some(format!("{protocol} connector maximumConnections"));
                ctx.out.set_int("limits.max_connections", n, comment());
                // The per-address limit may not exceed the total (default 1000).
                if n < 1000 {
                    ctx.out
                        .set_int("limits.max_connections_per_address", n, comment());
                }
            }
            _ => ctx.warn(node, format!("connector option {k}={v} is not translated")),
        }
    }
}
