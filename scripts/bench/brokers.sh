# shellcheck shell=bash disable=SC2154,SC2034
# Starting the brokers of scripts/bench/side-by-side.sh (sourced, not run).
# Needs common.sh; each start_* function registers what it starts for
# bench_cleanup and sets $bpid (the process whose memory is read).

amq_jar=/usr/share/activemq/bin/activemq.jar
pg_jar=/usr/share/java/postgresql.jar

# Every jar start_activemq uses and the Debian package that has it: the
# broker, the PostgreSQL JDBC driver, and the commons-dbcp pool with the
# commons-pool it needs (the activemq package only links them from
# /usr/share/activemq/lib/optional: without these two packages the links
# dangle and ActiveMQ does not start).
amq_jars=(
    "$amq_jar:activemq"
    "$pg_jar:libpostgresql-jdbc-java"
    "/usr/share/java/commons-dbcp.jar:libcommons-dbcp-java"
    "/usr/share/java/commons-pool.jar:libcommons-pool-java"
)
# Installs the packages of the jars that are missing (needs apt_install).
install_activemq() {
    local entry missing=()
    for entry in "${amq_jars[@]}"; do
        [ -e "${entry%%:*}" ] || missing+=("${entry##*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
}

# Baton on `url`, STOMP on $BATON_PORT, OpenWire on $BATON_OW_PORT if set
# (else the default 127.0.0.1:61616). Label -> command line in cmdline[].
start_baton() { # label url dir
    mkdir -p "$3"
    local more=()
    read -r -a more <<<"${BENCH_BATON_ARGS:-}"
    [ -n "${BATON_OW_PORT:-}" ] && more=(--openwire-listen "127.0.0.1:$BATON_OW_PORT" "${more[@]}")
    cmdline[$1]="baton serve --database-url ${2//$work/<tmp>} --stomp-listen 127.0.0.1:$BATON_PORT --admin-listen 127.0.0.1:$BATON_ADMIN_PORT${more[*]:+ ${more[*]}}"
    "$baton" serve --database-url "$2" --stomp-listen "127.0.0.1:$BATON_PORT" \
        --admin-listen "127.0.0.1:$BATON_ADMIN_PORT" "${more[@]}" >"$3/baton.log" 2>&1 &
    bpid=$!
    pids+=("$bpid")
    wait_port "$BATON_PORT" "$bpid" 60 || { tail -n 30 "$3/baton.log" >&2; die "baton did not open port $BATON_PORT"; }
}

# ActiveMQ Classic from Debian's package, as in scripts/bench-failover.sh
# (temp ACTIVEMQ_BASE, the package's JVM options, log4j 1.2 to a file), with
# a jdbcPersistenceAdapter on PostgreSQL database `db` through a commons-dbcp
# pool (ActiveMQ's documented JDBC setup; the jar is in lib/optional) and
# a STOMP connector (and an OpenWire one on $AMQ_OW_PORT if set). The pool is sized for the load: maxActive 32 and
# maxIdle 32 too (dbcp's default maxIdle of 8 makes the pool close and
# reopen database connections under 16 producers, a handicap no one
# tuning ActiveMQ would leave; issue 16).
start_activemq() { # label db
    local base="$work/activemq" ow="" ow_text=""
    if [ -n "${AMQ_OW_PORT:-}" ]; then
        ow="<transportConnector name=\"openwire\" uri=\"tcp://127.0.0.1:$AMQ_OW_PORT\"/>"
        ow_text=" and an OpenWire connector on tcp://127.0.0.1:$AMQ_OW_PORT (default wire format options)"
    fi
    mkdir -p "$base/conf" "$base/data" "$base/tmp" "$base/lib"
    ln -sf "$pg_jar" "$base/lib/postgresql.jar"
    cat >"$base/conf/activemq.xml" <<EOF
<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
    <bean class="org.springframework.beans.factory.config.PropertyPlaceholderConfigurer"/>
    <bean id="pg-ds" class="org.apache.commons.dbcp.BasicDataSource" destroy-method="close">
        <property name="driverClassName" value="org.postgresql.Driver"/>
        <property name="url" value="jdbc:postgresql://$pg_host:$pg_port/$2"/>
        <property name="username" value="postgres"/>
        <property name="maxActive" value="32"/>
        <property name="maxIdle" value="32"/>
        <property name="poolPreparedStatements" value="true"/>
    </bean>
    <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" brokerName="amq-bench"
            dataDirectory="\${activemq.data}">
        <persistenceAdapter>
            <jdbcPersistenceAdapter dataSource="#pg-ds"/>
        </persistenceAdapter>
        <transportConnectors>
            <transportConnector name="stomp" uri="stomp://127.0.0.1:$AMQ_PORT"/>
            $ow
        </transportConnectors>
    </broker>
</beans>
EOF
    cat >"$base/conf/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, out
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
log4j.appender.out=org.apache.log4j.FileAppender
log4j.appender.out.file=${activemq.data}/activemq.log
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%d | %-5p | %m | %c | %t%n
EOF
    local opts
    opts=$(
        set +u
        INSTANCE=main
        # shellcheck disable=SC1091
        [ -f /usr/share/activemq/activemq-options ] && . /usr/share/activemq/activemq-options
        echo "${ACTIVEMQ_OPTS:--Xms512M -Xmx512M -Dorg.apache.activemq.UseDedicatedTaskRunner=true}"
    )
    local props=(-Djava.awt.headless=true "-Djava.io.tmpdir=$base/tmp" "-Dactivemq.classpath=$base/conf"
        -Dactivemq.home=/usr/share/activemq "-Dactivemq.base=$base" "-Dactivemq.conf=$base/conf"
        "-Dactivemq.data=$base/data")
    cmdline[$1]="java $opts ${props[*]//$work/<tmp>} -jar $amq_jar start xbean:file:<tmp>/activemq/conf/activemq.xml (jdbcPersistenceAdapter on org.apache.commons.dbcp.BasicDataSource, org.postgresql.Driver, maxActive 32, maxIdle 32, poolPreparedStatements; a STOMP connector on 127.0.0.1:$AMQ_PORT$ow_text; useJmx=false)"
    # shellcheck disable=SC2086
    (cd "$base" && exec java $opts "${props[@]}" -jar "$amq_jar" start \
        "xbean:file:$base/conf/activemq.xml" >"$base/stdout.log" 2>&1) &
    bpid=$!
    pids+=("$bpid")
    wait_port "$AMQ_PORT" "$bpid" 180 || {
        tail -n 40 "$base/stdout.log" "$base/data/activemq.log" >&2 2>/dev/null || true
        die "ActiveMQ did not open port $AMQ_PORT"
    }
    if [ -n "${AMQ_OW_PORT:-}" ]; then
        wait_port "$AMQ_OW_PORT" "$bpid" 60 || die "ActiveMQ did not open port $AMQ_OW_PORT"
    fi
}
amq_warnings() { grep -cE '\| (WARN|ERROR) ' "$work/activemq/data/activemq.log" 2>/dev/null || true; }

# RabbitMQ already runs here (AMQP on 5672). Enables its STOMP plugin with a
# listener on 127.0.0.1:$RABBIT_PORT (set in the plugin's application
# environment before the plugin starts, so /etc/rabbitmq is not edited and
# the broker is not restarted), in a fresh virtual host $rabbit_vhost that
# guest may use. Undone at exit: the vhost is deleted (with its queues) and
# the plugin disabled again if it was not enabled before.
start_rabbit_stomp() { # label
    command -v rabbitmqctl >/dev/null || die "rabbitmqctl not found (RabbitMQ is expected to run here)"
    rabbitmqctl -q status >/dev/null 2>&1 || die "RabbitMQ is not running"
    rabbit_vhost="bench-$$"
    if rabbitmq-plugins list -e 2>/dev/null | grep -q 'rabbitmq_stomp '; then
        rabbit_port=$(rabbitmqctl -q eval 'case application:get_env(rabbitmq_stomp, tcp_listeners) of {ok, [{_, P} | _]} -> P; {ok, [P | _]} when is_integer(P) -> P; _ -> 0 end.')
        log "rabbitmq_stomp already enabled, listening on $rabbit_port"
    else
        port_open "$RABBIT_PORT" && die "port $RABBIT_PORT is already in use"
        rabbitmqctl -q eval "application:load(rabbitmq_stomp), application:set_env(rabbitmq_stomp, tcp_listeners, [{\"127.0.0.1\", $RABBIT_PORT}])." >/dev/null
        rabbitmq-plugins -q enable rabbitmq_stomp >&2
        undo_cmds+=("rabbitmq-plugins -q disable rabbitmq_stomp")
        rabbit_port=$RABBIT_PORT
    fi
    rabbitmqctl -q add_vhost "$rabbit_vhost" >&2
    undo_cmds+=("rabbitmqctl -q delete_vhost $rabbit_vhost")
    rabbitmqctl -q set_permissions -p "$rabbit_vhost" guest '.*' '.*' '.*' >&2
    bpid=$(rabbitmqctl -q eval 'list_to_integer(os:getpid()).')
    for _ in $(seq 1 60); do port_open "$rabbit_port" && break; sleep 0.5; done
    port_open "$rabbit_port" || die "RabbitMQ STOMP does not listen on $rabbit_port"
    cmdline[$1]="RabbitMQ $(rabbitmqctl -q eval 'rabbit_misc:version().' | tr -d '"') (already running, AMQP 127.0.0.1:5672) + rabbitmq_stomp listening on 127.0.0.1:$rabbit_port; virtual host $rabbit_vhost (fresh), guest/guest; /queue/<name> = durable queue, persistent:true = persistent messages, SEND receipts after publisher confirms"
}

# The real ActiveMQ Java client (Debian's libactivemq-java, the jars of
# tests/common/java.rs) and tests/java/JmsBench.java compiled into
# $work/java; sets $jms_cp. Needs javac (a JDK).
jms_jars=(
    "/usr/share/java/activemq-client.jar:libactivemq-java"
    "/usr/share/java/geronimo-jms_1.1_spec.jar:libgeronimo-jms-1.1-spec-java"
    "/usr/share/java/hawtbuf.jar:libhawtbuf-java"
    "/usr/share/java/slf4j-api.jar:libslf4j-java"
    "/usr/share/java/slf4j-nop.jar:libslf4j-java"
    "/usr/share/java/geronimo-j2ee-management-1.1-spec.jar:libgeronimo-j2ee-management-1.1-spec-java"
)
build_jms_bench() { # repo
    local entry missing=() cp=()
    for entry in "${jms_jars[@]}"; do
        [ -e "${entry%%:*}" ] || missing+=("${entry##*:}")
        cp+=("${entry%%:*}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt_install "${missing[@]}"
    fi
    command -v javac >/dev/null || die "javac not found: install a JDK (e.g. openjdk-17-jdk-headless)"
    jms_cp=$(IFS=:; echo "${cp[*]}"):$work/java
    mkdir -p "$work/java"
    javac -nowarn -encoding UTF-8 -d "$work/java" -cp "$jms_cp" "$1/tests/java/JmsBench.java" >&2 ||
        die "javac tests/java/JmsBench.java failed"
}
jms_bench() { java -cp "$jms_cp" JmsBench "$@"; }
