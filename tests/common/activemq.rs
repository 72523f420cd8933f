//! The reference broker: Apache ActiveMQ 5.17 from Debian's `activemq`
//! package, started the way `/usr/bin/activemq` does (`java -jar
//! activemq.jar start xbean:file:...`) with a generated activemq.xml: JDBC
//! persistence on a PostgreSQL database of the test's own (a commons-dbcp
//! pool), an OpenWire and a STOMP connector on loopback, JMX and the web console off,
//! and a simple authentication plugin with one user ([`USER`]) beside
//! anonymous access. Used to check the Java test programs and scenarios
//! (tests/common/jms_scenarios.rs) against the real thing.
//!
//! The JVM runs under a small `sh` watchdog that kills it (and drops the
//! database, for a broker shared by a whole test binary) when the test
//! process goes away: its stdin is a pipe from the test process, so the
//! watchdog's `read` returns at the test process's exit whatever ends it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::testdb::{free_port, Db};

const AMQ_JAR: &str = "/usr/share/activemq/bin/activemq.jar";
const PG_JAR: &str = "/usr/share/java/postgresql.jar";
const DBCP_JAR: &str = "/usr/share/java/commons-dbcp.jar";
const POOL_JAR: &str = "/usr/share/java/commons-pool.jar";

/// The user of the authentication plugin (anonymous access is allowed too).
pub const USER: (&str, &str) = ("baton", "secret");

/// How long the broker may take to open its connector.
const START_GUARD: Duration = Duration::from_secs(120);

/// One ActiveMQ broker process (behind its watchdog).
pub struct ActiveMq {
    watchdog: Child,
    /// Closing it makes the watchdog kill the broker.
    stdin: Option<ChildStdin>,
    /// The broker JVM's pid.
    pub pid: u32,
    pub name: String,
    /// `tcp://127.0.0.1:<port>`.
    pub url: String,
    /// `127.0.0.1:<port>` of its STOMP connector (known once it is master).
    pub stomp: Option<String>,
    pub base: PathBuf,
    _dir: tempfile::TempDir,
}

/// Panics naming the package unless Debian's ActiveMQ and the jars of its
/// JDBC store are installed.
fn check_installed() {
    for (jar, package) in [
        (AMQ_JAR, "activemq"),
        (PG_JAR, "libpostgresql-jdbc-java"),
        (DBCP_JAR, "libcommons-dbcp-java"),
        (POOL_JAR, "libcommons-pool-java"),
    ] {
        assert!(
            Path::new(jar).is_file(),
            "{jar} is missing: install Debian's {package} (scripts/test.sh does)"
        );
    }
}

/// How to start a broker.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// 0 picks an ephemeral port (read back from the log); a fixed port is
    /// for a master/slave pair the client reaches with `failover:`.
    pub port: u16,
    /// False: return once the JVM runs (a slave waits for the database
    /// lock and opens no port).
    pub wait_master: bool,
    /// The watchdog drops the database after the broker (for a broker kept
    /// for the whole test process, whose `Db` is never dropped).
    pub drop_db_at_exit: bool,
    /// `persistJMSRedelivered` on every queue: a message delivered before a
    /// failover comes back flagged JMSRedelivered (as Baton flags it);
    /// ActiveMQ's JDBC store otherwise forgets the delivery. It also
    /// counts one more JMSXDeliveryCount per redelivery, so it is off
    /// for the single broker.
    pub persist_redelivered: bool,
    /// `schedulerSupport`: `AMQ_SCHEDULED_*` honoured (its job store lives
    /// in the broker's own data directory, so only for a single broker).
    pub scheduler: bool,
}

impl Setup {
    /// The broker shared by a test process: ActiveMQ's defaults.
    pub const SHARED: Setup = Setup {
        port: 0,
        wait_master: true,
        drop_db_at_exit: true,
        persist_redelivered: false,
        scheduler: true,
    };

    /// One broker of a master/slave pair.
    pub fn pair_member(port: u16, wait_master: bool) -> Setup {
        Setup {
            port,
            wait_master,
            drop_db_at_exit: false,
            persist_redelivered: true,
            scheduler: false,
        }
    }
}

impl ActiveMq {
    /// A broker named `name` on database `db` (PostgreSQL).
    pub fn start(db: &Db, name: &str, setup: &Setup) -> ActiveMq {
        check_installed();
        let port = setup.port;
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().to_path_buf();
        for sub in ["conf", "data", "tmp", "lib"] {
            std::fs::create_dir_all(base.join(sub)).expect("create the broker's folders");
        }
        // activemq.jar adds <activemq.base>/lib to the broker's class path;
        // commons-dbcp and commons-pool are already in its lib/optional.
        std::os::unix::fs::symlink(PG_JAR, base.join("lib/postgresql.jar"))
            .expect("link the JDBC driver");
        std::fs::write(base.join("conf/activemq.xml"), config(db, name, setup))
            .expect("write activemq.xml");
        std::fs::write(base.join("conf/log4j.properties"), LOG4J).expect("write log4j.properties");
        let java = [
            "java",
            "-Xms64M",
            "-Xmx256M",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
        ];
        let b = base.display();
        let props = [
            format!("-Djava.io.tmpdir={b}/tmp"),
            format!("-Dactivemq.classpath={b}/conf"),
            "-Dactivemq.home=/usr/share/activemq".to_string(),
            format!("-Dactivemq.base={b}"),
            format!("-Dactivemq.conf={b}/conf"),
            format!("-Dactivemq.data={b}/data"),
        ];
        let cleanup = if setup.drop_db_at_exit {
            format!(
                "psql -h {} -p {} -U postgres -d postgres -qc 'DROP DATABASE IF EXISTS {} WITH (FORCE)' >/dev/null 2>&1",
                db.host, db.port, db.name
            )
        } else {
            String::new()
        };
        // `exec 0<&-`-free: the JVM gets /dev/null as stdin (background
        // job of a non-interactive shell), the watchdog keeps the pipe.
        let script = format!(
            "{java} {props} -jar {AMQ_JAR} start xbean:file:{b}/conf/activemq.xml >{b}/stdout.log 2>&1 &\n\
             j=$!\necho \"pid $j\"\nread -r _ || true\nkill -9 $j 2>/dev/null\nwait $j 2>/dev/null\n{cleanup}\nrm -rf {b}\n",
            java = java.join(" "),
            props = props.join(" "),
        );
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&base)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sh");
        let stdin = watchdog.stdin.take();
        let mut first = String::new();
        BufReader::new(watchdog.stdout.take().expect("piped stdout"))
            .read_line(&mut first)
            .expect("read the broker's pid");
        let pid: u32 = first
            .trim()
            .strip_prefix("pid ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("watchdog said {first:?}"));
        let mut amq = ActiveMq {
            watchdog,
            stdin,
            pid,
            name: name.to_string(),
            url: format!("tcp://127.0.0.1:{port}"),
            stomp: None,
            base,
            _dir: dir,
        };
        if setup.wait_master {
            let port = |scheme: &str| {
                let line = amq.wait_log(
                    &format!("Listening for connections at: {scheme}://"),
                    START_GUARD,
                );
                line.rsplit(':')
                    .next()
                    .and_then(|p| p.split_whitespace().next())
                    .and_then(|p| p.parse::<u16>().ok())
                    .unwrap_or_else(|| panic!("no port in {line:?}"))
            };
            let (openwire, stomp) = (port("tcp"), port("stomp"));
            amq.url = format!("tcp://127.0.0.1:{openwire}");
            amq.stomp = Some(format!("127.0.0.1:{stomp}"));
        }
        amq
    }

    /// The broker's log so far.
    pub fn log_text(&self) -> String {
        let log = std::fs::read_to_string(self.base.join("data/activemq.log")).unwrap_or_default();
        let out = std::fs::read_to_string(self.base.join("stdout.log")).unwrap_or_default();
        format!("{out}\n{log}")
    }

    /// Waits for a log line containing `needle`; returns that line.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.log_text();
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline && self.is_running(),
                "ActiveMQ {} logged no {needle:?} within {timeout:?}:\n{text}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn is_running(&self) -> bool {
        Path::new(&format!("/proc/{}", self.pid)).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .unwrap_or_default()
                .contains(") Z ")
    }

    /// kill -9 of the broker JVM.
    pub fn kill9(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status();
    }

    /// SIGTERM of the broker JVM (ActiveMQ's shutdown hook stops it).
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
    }
}

impl Drop for ActiveMq {
    fn drop(&mut self) {
        // EOF on the watchdog's stdin: it kills the JVM and cleans up.
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// One broker for the whole test process, on a database of its own that
/// the watchdog drops at exit.
pub fn shared() -> &'static ActiveMq {
    static SHARED: OnceLock<ActiveMq> = OnceLock::new();
    SHARED.get_or_init(|| {
        let db = Db::postgres();
        let amq = ActiveMq::start(&db, "amq-baseline", &Setup::SHARED);
        // The watchdog drops it; Drop must not race with the broker.
        std::mem::forget(db);
        amq
    })
}

fn config(db: &Db, name: &str, setup: &Setup) -> String {
    let policy = if setup.persist_redelivered {
        r#"<destinationPolicy>
            <policyMap>
                <policyEntries>
                    <policyEntry queue=">" persistJMSRedelivered="true"/>
                </policyEntries>
            </policyMap>
        </destinationPolicy>"#
    } else {
        ""
    };
    format!(
        r##"<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
    <bean id="pg-ds" class="org.apache.commons.dbcp.BasicDataSource" destroy-method="close">
        <property name="driverClassName" value="org.postgresql.Driver"/>
        <property name="url" value="jdbc:postgresql://{host}:{dbport}/{dbname}"/>
        <property name="username" value="postgres"/>
        <property name="maxActive" value="16"/>
        <property name="maxIdle" value="16"/>
    </bean>
    <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" brokerName="{name}"
            dataDirectory="${{activemq.data}}" schedulerSupport="{scheduler}" advisorySupport="true">
        {policy}
        <persistenceAdapter>
            <jdbcPersistenceAdapter dataSource="#pg-ds"/>
        </persistenceAdapter>
        <plugins>
            <simpleAuthenticationPlugin anonymousAccessAllowed="true">
                <users>
                    <authenticationUser username="{user}" password="{password}" groups="users"/>
                </users>
            </simpleAuthenticationPlugin>
        </plugins>
        <transportConnectors>
            <transportConnector name="openwire" uri="tcp://127.0.0.1:{port}"/>
            <transportConnector name="stomp" uri="stomp://127.0.0.1:0"/>
        </transportConnectors>
    </broker>
</beans>
"##,
        host = db.host,
        dbport = db.port,
        dbname = db.name,
        port = setup.port,
        scheduler = setup.scheduler,
        user = USER.0,
        password = USER.1,
    )
}

const LOG4J: &str = "log4j.rootLogger=INFO, out
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
log4j.appender.out=org.apache.log4j.FileAppender
log4j.appender.out.file=${activemq.data}/activemq.log
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%d | %-5p | %m | %c | %t%n
";

/// A master (first in the URL) and a slave waiting for the lock on `db`,
/// and the client's `failover:` URL over both.
pub fn pair(db: &Db) -> (ActiveMq, ActiveMq, String) {
    let (p1, p2) = (free_port(), free_port());
    let master = ActiveMq::start(db, "amq-a", &Setup::pair_member(p1, true));
    let slave = ActiveMq::start(db, "amq-b", &Setup::pair_member(p2, false));
    slave.wait_log("Attempting to acquire the exclusive lock", START_GUARD);
    let url = format!(
        "failover:({},{})?randomize=false&initialReconnectDelay=100&maxReconnectDelay=1000",
        master.url, slave.url
    );
    (master, slave, url)
}
