//! A Spring data source bean (DBCP, Tomcat, HikariCP, c3p0, the
//! PostgreSQL / MySQL / MariaDB drivers' own data sources, Derby) turned
//! into `database.url`, `database.username`, `database.password` and
//! `database.pool_size`.

use super::Ctx;
use crate::config::{is_jdbc, translate_jdbc, Backend};
use roxmltree::Node;

/// One `<property>` (or `p:` attribute) of a bean.
struct Prop<'a, 'i> {
    name: String,
    value: String,
    node: Node<'a, 'i>,
}

fn properties<'a, 'i>(bean: Node<'a, 'i>) -> Vec<Prop<'a, 'i>> {
    let mut props = Vec::new();
    for a in bean.attributes() {
        if a.namespace().is_some_and(|ns| ns.ends_with("/schema/p")) {
            props.push(Prop {
                name: a.name().to_string(),
                value: a.value().to_string(),
                node: bean,
            });
        }
    }
    for p in bean
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "property")
    {
        let value = p.attribute("value").map(str::to_string).or_else(|| {
            p.children()
                .find(|c| c.is_element() && c.tag_name().name() == "value")
                .map(|v| v.text().unwrap_or("").trim().to_string())
        });
        props.push(Prop {
            name: p.attribute("name").unwrap_or("").to_string(),
            value: value.unwrap_or_default(),
            node: p,
        });
    }
    props
}

/// Which database a JDBC driver class talks to.
fn driver_backend(driver: &str) -> Option<&'static str> {
    let d = driver.to_ascii_lowercase();
    if d.contains("mysql") || d.contains("mariadb") {
        Some("mysql")
    } else if d.contains("postgresql") {
        Some("postgres")
    } else if d.contains("derby") {
        Some("derby")
    } else {
        None
    }
}

/// Translates the data source bean `bean` (referenced as `id`).
pub(super) fn translate<'a, 'i>(ctx: &mut Ctx<'a, 'i>, id: &str, bean: Node<'a, 'i>) {
    let class = bean.attribute("class").unwrap_or("");
    if class.to_ascii_lowercase().contains("derby") {
        ctx.warn(
            bean,
            format!(
                "data source '{id}' is Apache Derby ({class}), which Baton does not support; Baton's single-node store is SQLite (the default database.url), several nodes share PostgreSQL or MySQL/MariaDB"
            ),
        );
        return;
    }
    let mut url: Option<(String, Node)> = None;
    let (mut user, mut password) = (None, None);
    let (mut server, mut port, mut dbname) = (None, None, None);
    let mut driver = None;
    for p in properties(bean) {
        match p.name.as_str() {
            "url" | "jdbcUrl" | "URL" => url = Some((p.value, p.node)),
            "username" | "user" => {
                user = ctx.literal(p.node, "database.username", &what(id, &p.name), &p.value)
            }
            "password" => {
                password = ctx.literal(p.node, "database.password", &what(id, &p.name), &p.value)
            }
            "serverName" | "serverNames" => server = Some((p.value, p.node)),
            "portNumber" | "portNumbers" | "port" => port = Some(p.value),
            "databaseName" => dbname = Some(p.value),
            "driverClassName" | "driverClass" => driver = Some((p.value, p.node)),
            "maxTotal" | "maxActive" | "maximumPoolSize" | "maxPoolSize" | "maxConnections" => {
                match p.value.trim().parse::<u64>() {
                    Ok(n) if n > 0 => ctx.out.set_int(
                        "database.pool_size",
                        n,
                        Some(format!("data source '{id}' {}", p.name)),
                    ),
                    _ => ctx.warn(
                        p.node,
                        format!(
                            "{} = \"{}\" is not translated (not a positive number)",
                            what(id, &p.name),
                            p.value
                        ),
                    ),
                }
            }
            _ => {
                let shown = if p.name.to_ascii_lowercase().contains("pass") {
                    String::new()
                } else {
                    format!(" = \"{}\"", p.value)
                };
                ctx.warn(
                    p.node,
                    format!("{}{shown} is not translated", what(id, &p.name)),
                );
            }
        }
    }
    if url.is_none() {
        if let Some((host, node)) = server {
            if class.contains("postgresql") {
                let host = host.split(',').next().unwrap_or("").to_string();
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                let db = dbname.unwrap_or_default();
                url = Some((format!("jdbc:postgresql://{host}{port}/{db}"), node));
            } else if class.contains("mysql") || class.contains("mariadb") {
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                let db = dbname.unwrap_or_default();
                url = Some((format!("jdbc:mysql://{host}{port}/{db}"), node));
            }
        }
    }
    let Some((raw, node)) = url else {
        ctx.warn(
            bean,
            format!(
                "data source '{id}' ({class}) has no url property; database.url is not translated"
            ),
        );
        return;
    };
    let Some(raw) = ctx.literal(node, "database.url", &what(id, "url"), &raw) else {
        return;
    };
    if !is_jdbc(&raw) {
        ctx.warn(
            node,
            format!(
                "{} \"{raw}\" is not a JDBC URL; not translated",
                what(id, "url")
            ),
        );
        return;
    }
    let parsed = match translate_jdbc(&raw) {
        Ok(p) => p,
        Err(e) => {
            ctx.warn(
                node,
                format!("{}: {e}; database.url is not translated", what(id, "url")),
            );
            return;
        }
    };
    for note in &parsed.dropped {
        ctx.warn(node, note);
    }
    if let Some((d, dnode)) = driver {
        let want = driver_backend(&d);
        let have = match Backend::of(&parsed.url) {
            Some(Backend::Mysql) => Some("mysql"),
            Some(Backend::Postgres) => Some("postgres"),
            _ => None,
        };
        if want.is_none() || want != have {
            ctx.warn(
                dnode,
                format!("driverClassName \"{d}\" does not match the URL; Baton picks its driver from the URL"),
            );
        }
    }
    ctx.out.set_str(
        "database.url",
        &parsed.url,
        Some(format!("data source '{id}' url {}", strip_password(&raw))),
    );
    if user.is_some() && parsed.user.is_some() && user != parsed.user {
        ctx.warn(
            node,
            "the URL's user is replaced by the data source's username property",
        );
    }
    if password.is_some() && parsed.password.is_some() {
        ctx.warn(
            node,
            "the URL's password is replaced by the data source's password property",
        );
    }
    if let Some(u) = user.or(parsed.user) {
        ctx.out
            .set_str("database.username", &u, Some(format!("data source '{id}'")));
    }
    if let Some(p) = password.or(parsed.password) {
        ctx.warn(
            bean,
            "the output contains the database password in clear text, as the XML did; consider removing database.password and setting BATON_DATABASE_PASSWORD instead",
        );
        ctx.out.set_str(
            "database.password",
            &p,
            Some(format!(
                "data source '{id}'; or set BATON_DATABASE_PASSWORD"
            )),
        );
    }
}

fn what(id: &str, property: &str) -> String {
    format!("property {property} of data source '{id}'")
}

/// The JDBC URL for a comment: `password=` parameters and userinfo
/// passwords removed.
fn strip_password(jdbc: &str) -> String {
    let (base, query) = jdbc.split_once('?').unwrap_or((jdbc, ""));
    let base = match (base.find("//"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}{}", &base[..s + 2], &base[at + 1..]),
        _ => base.to_string(),
    };
    let params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.to_ascii_lowercase().contains("pass"))
        .collect();
    if params.is_empty() {
        base
    } else {
        format!("{base}?{}", params.join("&"))
    }
}
