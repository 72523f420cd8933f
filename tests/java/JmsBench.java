import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import javax.jms.BytesMessage;
import javax.jms.DeliveryMode;
import javax.jms.MessageProducer;
import javax.jms.Session;

import org.apache.activemq.ActiveMQConnection;
import org.apache.activemq.ActiveMQConnectionFactory;

/**
 * Timing with the real ActiveMQ 5.17 Java client, for the benchmark
 * scripts (scripts/bench/openwire.sh, scripts/bench/openwire-failover.sh);
 * not used by the tests. One JSON object per line on stdout; exit code 1 on
 * an error, 2 on a usage error. Times are System.nanoTime(), which on Linux
 * is CLOCK_MONOTONIC, the clock of Python's time.monotonic_ns().
 *
 *   produce  --url U --dest Q [--count N] [--size B] [--producers P]
 *            P connections (default 1), each a session and a producer
 *            sending N/P persistent BytesMessages of B bytes (default
 *            1024) with sync sends (send() returns once the broker stored
 *            the message). Prints {"event":"done", "sent", "elapsed_ms",
 *            "msg_per_s", "p50_ms", "p99_ms", "max_ms"}; the clock starts
 *            when every connection is open, so JVM start and connection
 *            setup are not counted.
 *   failover --url failover:(...) --dest Q [--size B]
 *            one connection sending persistent messages without pause
 *            until killed, and consuming them (auto acknowledge) in a
 *            second session so that the queue stays short. Prints {"event":"confirmed","remote":R,"seq":N,
 *            "mono_ns":T} for the first confirmed send, and then whenever
 *            a send was confirmed through another broker than the one
 *            before (R = the failover transport's current remote
 *            address); {"event":"alive","remote":R,"seq":N,"mono_ns":T}
 *            at most every 500 ms with the last confirmed send.
 */
public final class JmsBench {
    static final PrintStream OUT =
        new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);

    public static void main(String[] args) {
        int code = 0;
        try {
            if (args.length == 0) {
                throw new IllegalArgumentException("no subcommand (produce, failover)");
            }
            Map<String, String> o = options(Arrays.copyOfRange(args, 1, args.length));
            switch (args[0]) {
                case "produce": produce(o); break;
                case "failover": failover(o); break;
                default: throw new IllegalArgumentException("unknown subcommand " + args[0]);
            }
        } catch (IllegalArgumentException e) {
            OUT.println("{\"event\":\"usage\",\"error\":" + quote(e.getMessage()) + "}");
            code = 2;
        } catch (Throwable e) {
            OUT.println("{\"event\":\"error\",\"error\":" + quote(e.toString()) + "}");
            code = 1;
        }
        System.exit(code);
    }

    static Map<String, String> options(String[] args) {
        Map<String, String> o = new HashMap<>();
        for (int i = 0; i < args.length; i += 2) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("expected --name value, got " + args[i]);
            }
            o.put(args[i].substring(2), args[i + 1]);
        }
        return o;
    }

    static String need(Map<String, String> o, String key) {
        String v = o.get(key);
        if (v == null) {
            throw new IllegalArgumentException("--" + key + " is required");
        }
        return v;
    }

    static long num(Map<String, String> o, String key, long dflt) {
        String v = o.get(key);
        return v == null ? dflt : Long.parseLong(v);
    }

    static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    /** One connection with a session and a persistent producer on dest. */
    static final class Sender {
        final ActiveMQConnection connection;
        final Session session;
        final MessageProducer producer;
        final byte[] body;

        Sender(String url, String dest, int size) throws Exception {
            connection = (ActiveMQConnection) new ActiveMQConnectionFactory(url).createConnection();
            connection.start();
            session = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
            producer = session.createProducer(session.createQueue(dest));
            producer.setDeliveryMode(DeliveryMode.PERSISTENT);
            body = new byte[size];
            Arrays.fill(body, (byte) 'x');
        }

        void send(long seq) throws Exception {
            BytesMessage m = session.createBytesMessage();
            m.writeBytes(body);
            m.setLongProperty("BenchSeq", seq);
            producer.send(m);
        }
    }

    static void produce(Map<String, String> o) throws Exception {
        String url = need(o, "url");
        String dest = need(o, "dest");
        long count = num(o, "count", 1000);
        int size = (int) num(o, "size", 1024);
        int producers = (int) num(o, "producers", 1);
        if (producers < 1 || count < producers) {
            throw new IllegalArgumentException("--producers must be between 1 and --count");
        }
        List<Sender> senders = new ArrayList<>();
        for (int i = 0; i < producers; i++) {
            senders.add(new Sender(url, dest, size));
        }
        long[][] latencies = new long[producers][];
        Throwable[] failed = new Throwable[1];
        List<Thread> threads = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < producers; i++) {
            final int p = i;
            final long n = count / producers + (p < count % producers ? 1 : 0);
            Thread t = new Thread(() -> {
                long[] lat = new long[(int) n];
                try {
                    Sender s = senders.get(p);
                    for (int k = 0; k < n; k++) {
                        long t0 = System.nanoTime();
                        s.send(k);
                        lat[k] = System.nanoTime() - t0;
                    }
                } catch (Throwable e) {
                    synchronized (failed) {
                        failed[0] = e;
                    }
                }
                latencies[p] = lat;
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        long elapsed = System.nanoTime() - start;
        if (failed[0] != null) {
            throw new Exception(failed[0]);
        }
        for (Sender s : senders) {
            s.connection.close();
        }
        long[] all = new long[(int) count];
        int k = 0;
        for (long[] l : latencies) {
            System.arraycopy(l, 0, all, k, l.length);
            k += l.length;
        }
        Arrays.sort(all);
        double ms = elapsed / 1e6;
        OUT.println(String.format(java.util.Locale.ROOT,
            "{\"event\":\"done\",\"sent\":%d,\"producers\":%d,\"size\":%d,\"elapsed_ms\":%.1f,"
                + "\"msg_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}",
            count, producers, size, ms, count / (ms / 1000.0), pct(all, 0.50), pct(all, 0.99),
            all[all.length - 1] / 1e6));
    }

    static double pct(long[] sorted, double q) {
        int i = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))] / 1e6;
    }

    static void failover(Map<String, String> o) throws Exception {
        Sender s = new Sender(need(o, "url"), need(o, "dest"), (int) num(o, "size", 1024));
        // A consumer on the same connection keeps the queue short, so that
        // a takeover does not also recover a growing backlog.
        Session cs = s.connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
        cs.createConsumer(cs.createQueue(need(o, "dest"))).setMessageListener(m -> { });
        String last = null;
        long lastAlive = 0;
        for (long seq = 0; ; seq++) {
            s.send(seq);
            long now = System.nanoTime();
            String remote = s.connection.getTransport().getRemoteAddress();
            if (!String.valueOf(remote).equals(last)) {
                OUT.println("{\"event\":\"confirmed\",\"remote\":" + quote(remote) + ",\"seq\":" + seq
                    + ",\"mono_ns\":" + now + "}");
                last = String.valueOf(remote);
            }
            if (now - lastAlive >= 500_000_000L) {
                OUT.println("{\"event\":\"alive\",\"remote\":" + quote(remote) + ",\"seq\":" + seq
                    + ",\"mono_ns\":" + now + "}");
                lastAlive = now;
            }
        }
    }
}
