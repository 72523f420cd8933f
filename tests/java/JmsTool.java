import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import javax.jms.BytesMessage;
import javax.jms.Connection;
import javax.jms.DeliveryMode;
import javax.jms.Destination;
import javax.jms.JMSException;
import javax.jms.MapMessage;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.ObjectMessage;
import javax.jms.Queue;
import javax.jms.QueueBrowser;
import javax.jms.Session;
import javax.jms.StreamMessage;
import javax.jms.TemporaryQueue;
import javax.jms.TemporaryTopic;
import javax.jms.TextMessage;
import javax.jms.Topic;
import javax.jms.TransactionRolledBackException;

import org.apache.activemq.ActiveMQConnection;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.apache.activemq.ActiveMQSession;
import org.apache.activemq.command.ActiveMQDestination;
import org.apache.activemq.command.ActiveMQMessage;
import org.apache.activemq.transport.TransportListener;
import org.apache.activemq.transport.failover.FailoverTransport;

/**
 * The Java side of Baton's OpenWire tests: the real ActiveMQ 5.17 client
 * (plain JMS 1.1 plus org.apache.activemq.*) driven from the command line.
 * Every line on stdout is one JSON object; an error is
 * {"event":"error","error":{"class":...,"message":...}} and exit code 1;
 * a usage error exits 2.
 *
 * Subcommands (options are "--name value"; see usage()):
 *   info      connect, print the broker name and client id, close
 *   produce   send --count messages built from the options
 *   consume   receive (or browse) and print every message
 *   request   request/reply client over a temporary queue
 *   reply     request/reply server: answers each request to its JMSReplyTo
 *   script    read JSON commands from stdin, one per line (see Script)
 */
public final class JmsTool {
    static final PrintStream OUT =
        new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);

    static final Set<String> FLAGS = Set.of("non-persistent", "browse", "no-local", "ack-each");

    public static void main(String[] args) {
        int code;
        try {
            if (args.length == 0) {
                throw new Usage("no subcommand");
            }
            Opts o = Opts.parse(args);
            switch (args[0]) {
                case "info": info(o); break;
                case "produce": produce(o); break;
                case "consume": consume(o); break;
                case "request": request(o); break;
                case "reply": reply(o); break;
                case "script": new Script(o).run(); break;
                default: throw new Usage("unknown subcommand " + args[0]);
            }
            code = 0;
        } catch (Usage u) {
            emit(obj("event", "usage_error", "message", u.getMessage(), "usage", usage()));
            code = 2;
        } catch (Throwable t) {
            emit(obj("event", "error", "error", describe(t)));
            code = 1;
        }
        OUT.flush();
        // The client's transport threads must not keep the JVM alive.
        System.exit(code);
    }

    static String usage() {
        return "JmsTool info|produce|consume|request|reply|script --url URL [--user U --password P]"
            + " [--client-id ID] [--dest queue://NAME|topic://NAME] [--count N]"
            + " [--body text|bytes|map|object|stream|plain] [--text T (\"{i}\" = index)]"
            + " [--non-persistent] [--ttl MS] [--priority P] [--group G] [--type T]"
            + " [--correlation-id C] [--reply-to DEST] [--prop name:type=value]..."
            + " [--transacted-batch K] [--delay-ms MS] [--ack auto|client|dups_ok|individual|transacted]"
            + " [--selector S] [--durable NAME] [--no-local] [--browse] [--idle-ms MS] [--timeout-ms MS]";
    }

    static final class Usage extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Usage(String m) {
            super(m);
        }
    }

    // ------------------------------------------------------------ output

    static synchronized void emit(Map<String, Object> m) {
        OUT.println(Json.write(m));
        OUT.flush();
    }

    static Map<String, Object> obj(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i + 1 < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    /** The exception's class and message, its JMS error code and its causes. */
    static Map<String, Object> describe(Throwable t) {
        Map<String, Object> m = obj("class", t.getClass().getName(), "message", t.getMessage());
        if (t instanceof JMSException && ((JMSException) t).getErrorCode() != null) {
            m.put("error_code", ((JMSException) t).getErrorCode());
        }
        Throwable cause = t.getCause();
        if (cause == null && t instanceof JMSException) {
            cause = ((JMSException) t).getLinkedException();
        }
        if (cause != null && cause != t) {
            m.put("cause", describe(cause));
        }
        return m;
    }

    // ------------------------------------------------------------ options

    static final class Opts {
        final Map<String, String> one = new HashMap<>();
        final List<String> props = new ArrayList<>();
        final Set<String> flags = new java.util.HashSet<>();

        static Opts parse(String[] args) {
            Opts o = new Opts();
            for (int i = 1; i < args.length; i++) {
                String a = args[i];
                if (!a.startsWith("--")) {
                    throw new Usage("unexpected argument " + a);
                }
                String k = a.substring(2);
                if (FLAGS.contains(k)) {
                    o.flags.add(k);
                    continue;
                }
                if (i + 1 >= args.length) {
                    throw new Usage("--" + k + " needs a value");
                }
                String v = args[++i];
                if (k.equals("prop")) {
                    o.props.add(v);
                } else {
                    o.one.put(k, v);
                }
            }
            return o;
        }

        String get(String k) {
            return one.get(k);
        }

        String need(String k) {
            String v = one.get(k);
            if (v == null) {
                throw new Usage("--" + k + " is required");
            }
            return v;
        }

        long num(String k, long dflt) {
            String v = one.get(k);
            if (v == null) {
                return dflt;
            }
            try {
                return Long.parseLong(v);
            } catch (NumberFormatException e) {
                throw new Usage("--" + k + " needs a number, not " + v);
            }
        }

        boolean flag(String k) {
            return flags.contains(k);
        }

        /** The message described by the options, as a Script message spec. */
        Map<String, Object> messageSpec() {
            Map<String, Object> spec = new LinkedHashMap<>();
            spec.put("body", one.getOrDefault("body", "text"));
            spec.put("text", one.getOrDefault("text", "message-{i}"));
            spec.put("bytes_base64", Base64.getEncoder()
                .encodeToString(one.getOrDefault("text", "message-{i}").getBytes(StandardCharsets.UTF_8)));
            spec.put("object", one.getOrDefault("text", "message-{i}"));
            spec.put("persistent", !flag("non-persistent"));
            if (one.containsKey("ttl")) spec.put("ttl_ms", num("ttl", 0));
            if (one.containsKey("priority")) spec.put("priority", num("priority", 4));
            if (one.containsKey("group")) spec.put("group_id", one.get("group"));
            if (one.containsKey("type")) spec.put("type", one.get("type"));
            if (one.containsKey("correlation-id")) spec.put("correlation_id", one.get("correlation-id"));
            if (one.containsKey("reply-to")) spec.put("reply_to", one.get("reply-to"));
            Map<String, Object> props = new LinkedHashMap<>();
            for (String p : this.props) {
                int colon = p.indexOf(':');
                int eq = p.indexOf('=');
                if (colon < 1 || eq < colon) {
                    throw new Usage("--prop wants name:type=value, not " + p);
                }
                String type = p.substring(colon + 1, eq);
                String raw = p.substring(eq + 1);
                Object value;
                switch (type) {
                    case "string": value = raw; break;
                    case "boolean": value = Boolean.parseBoolean(raw); break;
                    case "float": case "double": value = Double.parseDouble(raw); break;
                    default: value = Long.parseLong(raw);
                }
                props.put(p.substring(0, colon), obj("type", type, "value", value));
            }
            spec.put("properties", props);
            return spec;
        }
    }

    // ------------------------------------------------------------ JMS helpers

    static ActiveMQConnection connect(String url, String user, String password, String clientId,
                                      String label) throws JMSException {
        if (url == null) {
            throw new Usage("--url is required");
        }
        ActiveMQConnectionFactory f = new ActiveMQConnectionFactory(url);
        if (user != null) {
            f.setUserName(user);
            f.setPassword(password);
        }
        ActiveMQConnection c = (ActiveMQConnection) f.createConnection();
        try {
            if (clientId != null) {
                c.setClientID(clientId);
            }
            c.setExceptionListener(e -> emit(obj("event", "exception", "connection", label,
                "error", describe(e))));
            c.addTransportListener(new TransportListener() {
                public void onCommand(Object command) {}
                public void onException(IOException error) {}
                public void transportInterupted() {
                    emit(obj("event", "interrupted", "connection", label));
                }
                public void transportResumed() {
                    emit(obj("event", "resumed", "connection", label));
                }
            });
            c.start();
        } catch (JMSException | RuntimeException e) {
            try {
                c.close();
            } catch (JMSException ignored) {
                // The connection failed already; its first error is the one reported.
            }
            throw e;
        }
        return c;
    }

    static ActiveMQConnection connect(Opts o) throws JMSException {
        return connect(o.get("url"), o.get("user"), o.get("password"), o.get("client-id"), "main");
    }

    static Map<String, Object> connectionInfo(ActiveMQConnection c) throws JMSException {
        return obj("broker_name", c.getBrokerName(), "client_id", c.getClientID(),
            "remote", c.getTransport().getRemoteAddress());
    }

    static int ackMode(String name) {
        switch (name == null ? "auto" : name) {
            case "auto": return Session.AUTO_ACKNOWLEDGE;
            case "client": return Session.CLIENT_ACKNOWLEDGE;
            case "dups_ok": return Session.DUPS_OK_ACKNOWLEDGE;
            case "individual": return ActiveMQSession.INDIVIDUAL_ACKNOWLEDGE;
            case "transacted": return Session.SESSION_TRANSACTED;
            default: throw new Usage("unknown ack mode " + name);
        }
    }

    static Session session(Connection c, String ack) throws JMSException {
        int mode = ackMode(ack);
        return c.createSession(mode == Session.SESSION_TRANSACTED, mode);
    }

    /** "queue://A", "topic://A", "temp-queue://ID", "A,B" (composite), options after '?'. */
    static ActiveMQDestination destination(String name) {
        if (name == null) {
            return null;
        }
        return ActiveMQDestination.createDestination(name, ActiveMQDestination.QUEUE_TYPE);
    }

    static String name(Destination d) {
        if (d == null) {
            return null;
        }
        if (d instanceof ActiveMQDestination) {
            return ((ActiveMQDestination) d).getQualifiedName();
        }
        return d.toString();
    }

    static String text(Map<String, Object> spec, String key, long index) {
        Object v = spec.get(key);
        return v == null ? null : String.valueOf(v).replace("{i}", Long.toString(index));
    }

    /** A JMS value from {"type":..., "value":...}. */
    static Object typed(Object tv, long index) {
        if (!(tv instanceof Map)) {
            throw new IllegalArgumentException("a typed value is {\"type\":...,\"value\":...}, not " + tv);
        }
        Map<?, ?> m = (Map<?, ?>) tv;
        String type = String.valueOf(m.get("type"));
        Object v = m.get("value");
        switch (type) {
            case "boolean": return (Boolean) v;
            case "byte": return ((Number) v).byteValue();
            case "short": return ((Number) v).shortValue();
            case "int": return ((Number) v).intValue();
            case "long": return ((Number) v).longValue();
            case "float": return ((Number) v).floatValue();
            case "double": return ((Number) v).doubleValue();
            case "char": return String.valueOf(v).charAt(0);
            case "string": return String.valueOf(v).replace("{i}", Long.toString(index));
            case "bytes": return Base64.getDecoder().decode(String.valueOf(v));
            default: throw new IllegalArgumentException("unknown value type " + type);
        }
    }

    static Map<String, Object> typedJson(Object v) {
        String type;
        Object out = v;
        if (v == null) type = "null";
        else if (v instanceof Boolean) type = "boolean";
        else if (v instanceof Byte) type = "byte";
        else if (v instanceof Short) type = "short";
        else if (v instanceof Integer) type = "int";
        else if (v instanceof Long) type = "long";
        else if (v instanceof Float) type = "float";
        else if (v instanceof Double) type = "double";
        else if (v instanceof Character) { type = "char"; out = v.toString(); }
        else if (v instanceof String) type = "string";
        else if (v instanceof byte[]) { type = "bytes"; out = Base64.getEncoder().encodeToString((byte[]) v); }
        else { type = v.getClass().getName(); out = v.toString(); }
        return obj("type", type, "value", out);
    }

    static Message build(Session s, Map<String, Object> spec, long index) throws JMSException {
        String body = String.valueOf(spec.getOrDefault("body", "text"));
        Message m;
        switch (body) {
            case "text":
                m = s.createTextMessage(text(spec, "text", index));
                break;
            case "bytes": {
                BytesMessage b = s.createBytesMessage();
                Object raw = spec.get("bytes_base64");
                b.writeBytes(raw == null ? new byte[0] : Base64.getDecoder().decode(String.valueOf(raw)));
                m = b;
                break;
            }
            case "map": {
                MapMessage mm = s.createMapMessage();
                Object entries = spec.get("map");
                if (entries instanceof Map) {
                    for (Map.Entry<?, ?> e : ((Map<?, ?>) entries).entrySet()) {
                        mm.setObject(String.valueOf(e.getKey()), typed(e.getValue(), index));
                    }
                }
                m = mm;
                break;
            }
            case "object":
                m = s.createObjectMessage((Serializable) text(spec, "object", index));
                break;
            case "stream": {
                StreamMessage sm = s.createStreamMessage();
                Object items = spec.get("stream");
                if (items instanceof List) {
                    for (Object item : (List<?>) items) {
                        sm.writeObject(typed(item, index));
                    }
                }
                m = sm;
                break;
            }
            case "plain":
                m = s.createMessage();
                break;
            default:
                throw new IllegalArgumentException("unknown body type " + body);
        }
        if (spec.get("type") != null) m.setJMSType(text(spec, "type", index));
        if (spec.get("correlation_id") != null) m.setJMSCorrelationID(text(spec, "correlation_id", index));
        if (spec.get("reply_to") != null) m.setJMSReplyTo(destination(text(spec, "reply_to", index)));
        if (spec.get("group_id") != null) m.setStringProperty("JMSXGroupID", text(spec, "group_id", index));
        if (spec.get("group_seq") != null) m.setIntProperty("JMSXGroupSeq", ((Number) spec.get("group_seq")).intValue());
        Object props = spec.get("properties");
        if (props instanceof Map) {
            for (Map.Entry<?, ?> e : ((Map<?, ?>) props).entrySet()) {
                m.setObjectProperty(String.valueOf(e.getKey()), typed(e.getValue(), index));
            }
        }
        return m;
    }

    /** Sends with the spec's delivery mode, priority and TTL (else the producer's). */
    static void send(MessageProducer p, Destination dest, Message m, Map<String, Object> spec)
        throws JMSException {
        int mode = p.getDeliveryMode();
        if (spec.get("persistent") instanceof Boolean) {
            mode = (Boolean) spec.get("persistent") ? DeliveryMode.PERSISTENT : DeliveryMode.NON_PERSISTENT;
        }
        int priority = spec.get("priority") == null ? p.getPriority() : ((Number) spec.get("priority")).intValue();
        long ttl = spec.get("ttl_ms") == null ? p.getTimeToLive() : ((Number) spec.get("ttl_ms")).longValue();
        if (dest == null) {
            p.send(m, mode, priority, ttl);
        } else {
            p.send(dest, m, mode, priority, ttl);
        }
    }

    /** Every header, property and the body of a received message. */
    static Map<String, Object> describe(Message m) throws JMSException {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("message_id", m.getJMSMessageID());
        d.put("destination", name(m.getJMSDestination()));
        d.put("reply_to", name(m.getJMSReplyTo()));
        d.put("correlation_id", m.getJMSCorrelationID());
        d.put("type", m.getJMSType());
        d.put("delivery_mode", m.getJMSDeliveryMode() == DeliveryMode.PERSISTENT ? "persistent" : "non_persistent");
        d.put("priority", m.getJMSPriority());
        d.put("expiration", m.getJMSExpiration());
        d.put("timestamp", m.getJMSTimestamp());
        d.put("redelivered", m.getJMSRedelivered());
        d.put("delivery_count", m.propertyExists("JMSXDeliveryCount") ? m.getIntProperty("JMSXDeliveryCount") : null);
        d.put("group_id", m.getStringProperty("JMSXGroupID"));
        d.put("group_seq", m.propertyExists("JMSXGroupSeq") ? m.getIntProperty("JMSXGroupSeq") : null);
        if (m instanceof ActiveMQMessage && ((ActiveMQMessage) m).getMessageId() != null) {
            ActiveMQMessage a = (ActiveMQMessage) m;
            d.put("producer_id", a.getMessageId().getProducerId().toString());
            d.put("producer_seq", a.getMessageId().getProducerSequenceId());
        }
        Map<String, Object> props = new LinkedHashMap<>();
        List<String> names = new ArrayList<>();
        for (Enumeration<?> e = m.getPropertyNames(); e.hasMoreElements();) {
            names.add(String.valueOf(e.nextElement()));
        }
        Collections.sort(names);
        for (String n : names) {
            props.put(n, typedJson(m.getObjectProperty(n)));
        }
        d.put("properties", props);
        if (m instanceof TextMessage) {
            d.put("body_type", "text");
            d.put("text", ((TextMessage) m).getText());
        } else if (m instanceof BytesMessage) {
            BytesMessage b = (BytesMessage) m;
            b.reset();
            byte[] data = new byte[(int) b.getBodyLength()];
            b.readBytes(data);
            d.put("body_type", "bytes");
            d.put("bytes_base64", Base64.getEncoder().encodeToString(data));
        } else if (m instanceof MapMessage) {
            MapMessage mm = (MapMessage) m;
            Map<String, Object> entries = new LinkedHashMap<>();
            List<String> keys = new ArrayList<>();
            for (Enumeration<?> e = mm.getMapNames(); e.hasMoreElements();) {
                keys.add(String.valueOf(e.nextElement()));
            }
            Collections.sort(keys);
            for (String k : keys) {
                entries.put(k, typedJson(mm.getObject(k)));
            }
            d.put("body_type", "map");
            d.put("map", entries);
        } else if (m instanceof ObjectMessage) {
            // Only java.lang.String payloads are sent by this tool; the
            // client's trusted-packages check guards anything else.
            Object o = ((ObjectMessage) m).getObject();
            d.put("body_type", "object");
            d.put("object", o == null ? null : o.toString());
        } else if (m instanceof StreamMessage) {
            StreamMessage sm = (StreamMessage) m;
            sm.reset();
            List<Object> items = new ArrayList<>();
            while (true) {
                try {
                    items.add(typedJson(sm.readObject()));
                } catch (javax.jms.MessageEOFException end) {
                    break;
                }
            }
            d.put("body_type", "stream");
            d.put("stream", items);
        } else {
            d.put("body_type", "plain");
        }
        return d;
    }

    // ------------------------------------------------------------ subcommands

    static void info(Opts o) throws JMSException {
        ActiveMQConnection c = connect(o);
        Map<String, Object> m = obj("event", "connected");
        m.putAll(connectionInfo(c));
        emit(m);
        c.close();
        emit(obj("event", "done"));
    }

    static void produce(Opts o) throws Exception {
        ActiveMQConnection c = connect(o);
        long batch = o.num("transacted-batch", 0);
        Session s = batch > 0 ? c.createSession(true, Session.SESSION_TRANSACTED)
            : c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        MessageProducer p = s.createProducer(destination(o.need("dest")));
        Map<String, Object> spec = o.messageSpec();
        long count = o.num("count", 1);
        long delay = o.num("delay-ms", 0);
        // Transacted: a batch whose commit is rolled back (a failover
        // during the transaction) is sent again, as an application would.
        long i = 0;
        long batchStart = 0;
        while (i < count) {
            Message m = build(s, spec, i);
            send(p, null, m, spec);
            emit(obj("event", "sent", "index", i, "message_id", m.getJMSMessageID()));
            i++;
            if (batch > 0 && (i - batchStart == batch || i == count)) {
                try {
                    s.commit();
                    emit(obj("event", "committed", "from", batchStart, "through", i - 1));
                    batchStart = i;
                } catch (TransactionRolledBackException e) {
                    emit(obj("event", "rolled_back", "from", batchStart, "through", i - 1,
                        "error", describe(e)));
                    i = batchStart;
                }
            }
            if (delay > 0) {
                Thread.sleep(delay);
            }
        }
        c.close();
        emit(obj("event", "done", "sent", count));
    }

    static void consume(Opts o) throws Exception {
        ActiveMQConnection c = connect(o);
        Session s = session(c, o.get("ack"));
        ActiveMQDestination dest = destination(o.need("dest"));
        String selector = o.get("selector");
        long count = o.num("count", Long.MAX_VALUE);
        long idle = o.num("idle-ms", 2000);
        long received = 0;
        if (o.flag("browse")) {
            QueueBrowser b = s.createBrowser((Queue) dest, selector);
            emit(obj("event", "ready"));
            for (Enumeration<?> e = b.getEnumeration(); e.hasMoreElements() && received < count;) {
                Map<String, Object> m = describe((Message) e.nextElement());
                m.put("event", "message");
                m.put("index", received++);
                emit(m);
            }
        } else {
            MessageConsumer consumer = o.get("durable") != null
                ? s.createDurableSubscriber((Topic) dest, o.get("durable"), selector, o.flag("no-local"))
                : s.createConsumer(dest, selector, o.flag("no-local"));
            emit(obj("event", "ready"));
            int mode = ackMode(o.get("ack"));
            while (received < count) {
                Message msg = consumer.receive(idle);
                if (msg == null) {
                    break;
                }
                Map<String, Object> m = describe(msg);
                m.put("event", "message");
                m.put("index", received++);
                emit(m);
                if (mode == Session.CLIENT_ACKNOWLEDGE || mode == ActiveMQSession.INDIVIDUAL_ACKNOWLEDGE) {
                    msg.acknowledge();
                } else if (mode == Session.SESSION_TRANSACTED) {
                    s.commit();
                }
            }
        }
        c.close();
        emit(obj("event", "done", "received", received));
    }

    static void request(Opts o) throws Exception {
        ActiveMQConnection c = connect(o);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        TemporaryQueue replies = s.createTemporaryQueue();
        MessageConsumer consumer = s.createConsumer(replies);
        MessageProducer p = s.createProducer(destination(o.need("dest")));
        long count = o.num("count", 1);
        long timeout = o.num("timeout-ms", 10000);
        emit(obj("event", "ready", "reply_to", name(replies)));
        for (long i = 0; i < count; i++) {
            TextMessage req = s.createTextMessage("request-" + i);
            req.setJMSReplyTo(replies);
            req.setJMSCorrelationID("corr-" + i);
            p.send(req);
            Message reply = consumer.receive(timeout);
            if (reply == null) {
                throw new IllegalStateException("no reply to request " + i + " within " + timeout + " ms");
            }
            Map<String, Object> m = describe(reply);
            m.put("event", "reply");
            m.put("index", i);
            emit(m);
        }
        c.close();
        emit(obj("event", "done", "replies", count));
    }

    static void reply(Opts o) throws Exception {
        ActiveMQConnection c = connect(o);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        MessageConsumer consumer = s.createConsumer(destination(o.need("dest")));
        MessageProducer p = s.createProducer(null);
        long count = o.num("count", Long.MAX_VALUE);
        long idle = o.num("idle-ms", 10000);
        emit(obj("event", "ready"));
        long n = 0;
        while (n < count) {
            Message req = consumer.receive(idle);
            if (req == null) {
                break;
            }
            String body = req instanceof TextMessage ? ((TextMessage) req).getText() : "";
            TextMessage answer = s.createTextMessage("reply:" + body);
            answer.setJMSCorrelationID(req.getJMSCorrelationID());
            p.send(req.getJMSReplyTo(), answer);
            emit(obj("event", "replied", "index", n++, "to", name(req.getJMSReplyTo()),
                "correlation_id", req.getJMSCorrelationID()));
        }
        c.close();
        emit(obj("event", "done", "replied", n));
    }

    // ------------------------------------------------------------ script mode

    /**
     * One JSON command per stdin line, {"seq":N,"op":...,...}; each gets one
     * reply {"seq":N,"ok":true,...} or {"seq":N,"ok":false,"error":{...}}.
     * A command with "async":true runs on its own thread (its reply comes
     * later). Objects are named by the caller ("name") and referred to by
     * that name. Received messages get a handle ("handle") for "ack".
     * End of input closes every connection and exits.
     */
    static final class Script {
        final Opts o;
        final Map<String, Object> objects = new ConcurrentHashMap<>();
        final AtomicLong handles = new AtomicLong();

        Script(Opts o) {
            this.o = o;
        }

        void run() throws IOException {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            emit(obj("event", "ready"));
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                Object seq = null;
                try {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> cmd = (Map<String, Object>) Json.parse(line);
                    seq = cmd.get("seq");
                    if (Boolean.TRUE.equals(cmd.get("async"))) {
                        Thread t = new Thread(() -> execute(cmd), "async-" + cmd.get("seq"));
                        t.setDaemon(true);
                        t.start();
                    } else {
                        execute(cmd);
                    }
                } catch (RuntimeException e) {
                    emit(obj("seq", seq, "ok", false, "error", describe(e)));
                }
            }
            for (Object v : objects.values()) {
                if (v instanceof Connection) {
                    try {
                        ((Connection) v).close();
                    } catch (JMSException ignored) {
                        // Exiting anyway; the broker sees the socket close.
                    }
                }
            }
        }

        void execute(Map<String, Object> cmd) {
            Map<String, Object> reply;
            try {
                reply = op(cmd);
                reply.put("ok", true);
            } catch (Throwable t) {
                reply = obj("ok", false, "error", describe(t));
            }
            Map<String, Object> out = obj("seq", cmd.get("seq"));
            out.putAll(reply);
            emit(out);
        }

        <T> T get(Map<String, Object> cmd, String key, Class<T> type) {
            Object name = cmd.get(key);
            Object v = objects.get(String.valueOf(name));
            if (!type.isInstance(v)) {
                throw new IllegalArgumentException("\"" + key + "\": no " + type.getSimpleName() + " named " + name);
            }
            return type.cast(v);
        }

        static String str(Map<String, Object> cmd, String key) {
            Object v = cmd.get(key);
            return v == null ? null : String.valueOf(v);
        }

        static long num(Map<String, Object> cmd, String key, long dflt) {
            Object v = cmd.get(key);
            return v == null ? dflt : ((Number) v).longValue();
        }

        String put(Map<String, Object> cmd, Object value) {
            String name = str(cmd, "name");
            if (name == null) {
                throw new IllegalArgumentException("\"name\" is required");
            }
            objects.put(name, value);
            return name;
        }

        Map<String, Object> received(Message m) throws JMSException {
            Map<String, Object> d = describe(m);
            String handle = "m" + handles.incrementAndGet();
            objects.put(handle, m);
            d.put("handle", handle);
            return d;
        }

        Message receive(MessageConsumer c, Map<String, Object> cmd) throws JMSException {
            String mode = String.valueOf(cmd.getOrDefault("mode", "timeout"));
            switch (mode) {
                case "nowait": return c.receiveNoWait();
                case "block": return c.receive();
                case "timeout": return c.receive(num(cmd, "timeout_ms", 1000));
                default: throw new IllegalArgumentException("unknown receive mode " + mode);
            }
        }

        @SuppressWarnings("unchecked")
        Map<String, Object> op(Map<String, Object> cmd) throws Exception {
            String op = String.valueOf(cmd.get("op"));
            switch (op) {
                case "connect": {
                    String url = cmd.containsKey("url") ? str(cmd, "url") : o.get("url");
                    String user = cmd.containsKey("user") ? str(cmd, "user") : o.get("user");
                    String password = cmd.containsKey("password") ? str(cmd, "password") : o.get("password");
                    ActiveMQConnection c = connect(url, user, password, str(cmd, "client_id"), str(cmd, "name"));
                    put(cmd, c);
                    return connectionInfo(c);
                }
                case "session":
                    put(cmd, session(get(cmd, "connection", Connection.class), str(cmd, "ack")));
                    return obj();
                case "producer": {
                    MessageProducer p = get(cmd, "session", Session.class).createProducer(destination(str(cmd, "dest")));
                    if (cmd.get("persistent") instanceof Boolean) {
                        p.setDeliveryMode((Boolean) cmd.get("persistent") ? DeliveryMode.PERSISTENT : DeliveryMode.NON_PERSISTENT);
                    }
                    put(cmd, p);
                    return obj();
                }
                case "send": {
                    MessageProducer p = get(cmd, "producer", MessageProducer.class);
                    Session s = get(cmd, "session", Session.class);
                    Map<String, Object> spec = (Map<String, Object>) cmd.getOrDefault("message", obj());
                    ActiveMQDestination dest = destination(str(cmd, "dest"));
                    List<Object> ids = new ArrayList<>();
                    long count = num(cmd, "count", 1);
                    for (long i = 0; i < count; i++) {
                        Message m = build(s, spec, i);
                        send(p, dest, m, spec);
                        ids.add(m.getJMSMessageID());
                    }
                    return obj("message_ids", ids);
                }
                case "consumer": {
                    Session s = get(cmd, "session", Session.class);
                    ActiveMQDestination dest = destination(str(cmd, "dest"));
                    boolean noLocal = Boolean.TRUE.equals(cmd.get("no_local"));
                    String durable = str(cmd, "durable");
                    MessageConsumer c = durable != null
                        ? s.createDurableSubscriber((Topic) dest, durable, str(cmd, "selector"), noLocal)
                        : s.createConsumer(dest, str(cmd, "selector"), noLocal);
                    put(cmd, c);
                    return obj();
                }
                case "receive": {
                    long start = System.nanoTime();
                    Message m = receive(get(cmd, "consumer", MessageConsumer.class), cmd);
                    long elapsed = (System.nanoTime() - start) / 1_000_000;
                    return obj("message", m == null ? null : received(m), "elapsed_ms", elapsed);
                }
                case "receive_all": {
                    // Receives until a receive returns null or "max" messages came.
                    MessageConsumer c = get(cmd, "consumer", MessageConsumer.class);
                    long max = num(cmd, "max", Long.MAX_VALUE);
                    List<Object> out = new ArrayList<>();
                    while (out.size() < max) {
                        Message m = receive(c, cmd);
                        if (m == null) {
                            break;
                        }
                        out.add(received(m));
                    }
                    return obj("messages", out);
                }
                case "ack":
                    get(cmd, "message", Message.class).acknowledge();
                    return obj();
                case "commit":
                    get(cmd, "session", Session.class).commit();
                    return obj();
                case "rollback":
                    get(cmd, "session", Session.class).rollback();
                    return obj();
                case "recover":
                    get(cmd, "session", Session.class).recover();
                    return obj();
                case "unsubscribe":
                    get(cmd, "session", Session.class).unsubscribe(str(cmd, "subscription"));
                    return obj();
                case "browse": {
                    Session s = get(cmd, "session", Session.class);
                    QueueBrowser b = s.createBrowser((Queue) destination(str(cmd, "dest")), str(cmd, "selector"));
                    List<Object> out = new ArrayList<>();
                    for (Enumeration<?> e = b.getEnumeration(); e.hasMoreElements();) {
                        out.add(describe((Message) e.nextElement()));
                    }
                    b.close();
                    return obj("messages", out);
                }
                case "temp_queue": {
                    TemporaryQueue q = get(cmd, "session", Session.class).createTemporaryQueue();
                    put(cmd, q);
                    return obj("destination", name(q));
                }
                case "temp_topic": {
                    TemporaryTopic t = get(cmd, "session", Session.class).createTemporaryTopic();
                    put(cmd, t);
                    return obj("destination", name(t));
                }
                case "delete_temp": {
                    Object t = objects.get(str(cmd, "name"));
                    if (t instanceof TemporaryQueue) {
                        ((TemporaryQueue) t).delete();
                    } else if (t instanceof TemporaryTopic) {
                        ((TemporaryTopic) t).delete();
                    } else {
                        throw new IllegalArgumentException("no temporary destination named " + str(cmd, "name"));
                    }
                    return obj();
                }
                case "simulate_failover": {
                    // Brief 5.3 item 35: the failover transport reconnects and
                    // replays its state, as after a lost socket.
                    ActiveMQConnection c = get(cmd, "connection", ActiveMQConnection.class);
                    FailoverTransport f = c.getTransport().narrow(FailoverTransport.class);
                    if (f == null) {
                        throw new IllegalArgumentException("the connection does not use failover:");
                    }
                    f.handleTransportFailure(new IOException("simulated by JmsTool"));
                    return obj();
                }
                case "close": {
                    Object v = objects.remove(str(cmd, "name"));
                    if (v instanceof Connection) ((Connection) v).close();
                    else if (v instanceof Session) ((Session) v).close();
                    else if (v instanceof MessageProducer) ((MessageProducer) v).close();
                    else if (v instanceof MessageConsumer) ((MessageConsumer) v).close();
                    else throw new IllegalArgumentException("nothing to close named " + str(cmd, "name"));
                    return obj();
                }
                default:
                    throw new IllegalArgumentException("unknown op " + op);
            }
        }
    }
}
