-- sysbench script for scripts/bench/mariadb-limit.sh: one event = one batch
-- of Baton's MySQL store (src/store/mysql.rs, commit_plan; the multi-row
-- statements of src/store/plan.rs) on Baton's own schema, its own
-- transaction:
--   BEGIN
--   INSERT INTO msgs (id, destination, priority, expires, scheduled,
--     redeliveries, headers, body) VALUES (...), ... (--batch rows)
--   [DELETE FROM msgs WHERE id IN (<this thread's previous batch>)]
--   [INSERT INTO producers (producer_id, last_seq, updated_at) VALUES ...
--     ON DUPLICATE KEY UPDATE last_seq = GREATEST(last_seq,
--     VALUES(last_seq)), updated_at = VALUES(updated_at)]
--   SELECT epoch FROM lock WHERE name = 'baton' LOCK IN SHARE MODE
--   COMMIT (or ROLLBACK when the epoch is not ours)
-- --form=multi sends these one statement per round trip, as the store does
-- today; --form=block sends the same statements as ONE round trip: a
-- MariaDB compound statement (BEGIN NOT ATOMIC ... END) that reads the
-- fence last and commits only when the epoch is ours (else rolls back and
-- signals), so fencing keeps its meaning.
--
-- Ids never collide between threads: thread t, batch b ->
-- t * 10^12 + b * batch + 0..batch-1. Producer marks: one row per message
-- of the batch (batch synchronous producers, one message each), the
-- producer ids of a thread its own (no row shared between threads).
-- Values are SQL literals (text protocol); Baton binds them (binary
-- protocol, prepared statements).

sysbench.cmdline.options = {
    batch = {"rows per transaction", 16},
    size = {"body bytes", 1024},
    delete = {"also delete the thread's previous batch (insert+delete)", false},
    marks = {"write the producer marks", true},
    form = {"multi: one statement per round trip; block: one round trip", "multi"},
}

local NOW_MS = "CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000 AS SIGNED)"
local FENCE = "SELECT epoch FROM `lock` WHERE name = 'baton' LOCK IN SHARE MODE"

function thread_init()
    drv = sysbench.sql.driver()
    con = drv:connect()
    -- Baton's session settings (src/store/mysql.rs, setup_session).
    con:query("SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')")
    con:query("SET SESSION innodb_lock_wait_timeout = 30")
    local binlog = con:query_row("SELECT CAST(@@SESSION.binlog_format AS CHAR)")
    if binlog == nil or string.upper(binlog) ~= "STATEMENT" then
        con:query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    end
    batch = sysbench.opt.batch
    base = sysbench.tid * 1000000000000
    b = 0
    local body = string.rep("x", sysbench.opt.size)
    -- The row text after the id, the same for every row.
    row_tail = ", '/queue/bench', 4, 0, 0, 0, '{\"persistent\":\"true\"}', '" .. body .. "')"
    if sysbench.opt.form ~= "multi" and sysbench.opt.form ~= "block" then
        error("--form must be multi or block")
    end
end

local function statements()
    b = b + 1
    local lo = base + b * batch
    local rows = {}
    for i = 0, batch - 1 do
        rows[#rows + 1] = "(" .. (lo + i) .. row_tail
    end
    local s = {
        "INSERT INTO msgs (id, destination, priority, expires, scheduled, redeliveries, headers, body) VALUES "
            .. table.concat(rows, ", "),
    }
    if sysbench.opt.delete then
        local ids = {}
        for i = 0, batch - 1 do
            ids[#ids + 1] = tostring(lo - batch + i)
        end
        s[#s + 1] = "DELETE FROM msgs WHERE id IN (" .. table.concat(ids, ", ") .. ")"
    end
    if sysbench.opt.marks then
        local marks = {}
        for i = 0, batch - 1 do
            marks[#marks + 1] = string.format("('bench-%d-%d', %d, %s)", sysbench.tid, i, b, NOW_MS)
        end
        s[#s + 1] = "INSERT INTO producers (producer_id, last_seq, updated_at) VALUES "
            .. table.concat(marks, ", ")
            .. " ON DUPLICATE KEY UPDATE last_seq = GREATEST(last_seq, VALUES(last_seq)), updated_at = VALUES(updated_at)"
    end
    return s
end

function event()
    local s = statements()
    if sysbench.opt.form == "multi" then
        con:query("BEGIN")
        for _, q in ipairs(s) do
            con:query(q)
        end
        local epoch = con:query_row(FENCE)
        if tonumber(epoch) ~= 0 then
            con:query("ROLLBACK")
            error("fenced: epoch " .. tostring(epoch))
        end
        con:query("COMMIT")
    else
        con:query("BEGIN NOT ATOMIC\n"
            .. "DECLARE e BIGINT;\n"
            .. "DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;\n"
            .. "START TRANSACTION;\n"
            .. table.concat(s, ";\n") .. ";\n"
            .. "SELECT epoch INTO e FROM `lock` WHERE name = 'baton' LOCK IN SHARE MODE;\n"
            .. "IF e IS NULL OR e <> 0 THEN ROLLBACK; SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'fenced'; END IF;\n"
            .. "COMMIT;\n"
            .. "END")
    end
end

function thread_done()
    con:disconnect()
end
