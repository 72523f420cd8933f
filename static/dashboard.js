// Baton dashboard: sortable and filterable tables, and live values polled
// from /dashboard/live.json (every page works without this script).
(function () {
  "use strict";
  var POLL_MS = 2000, POINTS = 90;

  function cellValue(row, i, numeric) {
    var t = (row.cells[i] && row.cells[i].textContent.trim()) || "";
    if (!numeric) return t.toLowerCase();
    var n = parseFloat(t.replace(/[^0-9.\-]/g, ""));
    return isNaN(n) ? -Infinity : n;
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, i) {
      th.addEventListener("click", function () {
        var numeric = th.dataset.sort === "num";
        var asc = !th.classList.contains("asc");
        Array.prototype.forEach.call(heads, function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(asc ? "asc" : "desc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, i, numeric), y = cellValue(b, i, numeric);
          return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  document.querySelectorAll("input.filter").forEach(function (input) {
    var table = document.getElementById(input.dataset.table);
    if (!table) return;
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        r.style.display = r.cells[0].textContent.toLowerCase().indexOf(q) >= 0 ? "" : "none";
      });
    });
  });

  function setLive(key, value) {
    document.querySelectorAll('[data-live="' + key + '"]').forEach(function (el) {
      el.textContent = value;
    });
  }

  var canvas = document.getElementById("rates");
  var history = [];
  function draw() {
    if (!canvas || !canvas.getContext) return;
    var ratio = window.devicePixelRatio || 1;
    var w = canvas.clientWidth, h = canvas.clientHeight;
    canvas.width = w * ratio; canvas.height = h * ratio;
    var g = canvas.getContext("2d");
    g.scale(ratio, ratio);
    g.clearRect(0, 0, w, h);
    var max = 1;
    history.forEach(function (p) { max = Math.max(max, p.inRate, p.outRate); });
    g.strokeStyle = "#e3e6ec"; g.lineWidth = 1; g.fillStyle = "#6b7385"; g.font = "11px system-ui, sans-serif";
    for (var k = 0; k <= 4; k++) {
      var y = Math.round(8 + (h - 16) * k / 4) + 0.5;
      g.beginPath(); g.moveTo(40, y); g.lineTo(w, y); g.stroke();
      g.fillText((max * (4 - k) / 4).toFixed(max < 10 ? 1 : 0), 2, y + 4);
    }
    function line(field, color) {
      g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
      history.forEach(function (p, j) {
        var x = 40 + (w - 40) * (j + POINTS - history.length) / (POINTS - 1);
        var y = 8 + (h - 16) * (1 - p[field] / max);
        if (j === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
    }
    line("inRate", "#2458d3");
    line("outRate", "#17a673");
  }

  var last = null, lastDest = {};
  function rate(now, prev, key, value) {
    if (!prev || value == null || prev[key] == null || now <= prev.now) return null;
    return Math.max(0, (value - prev[key]) * 1000 / (now - prev.now));
  }
  function fmt(r) { return r == null ? "—" : r < 10 ? r.toFixed(1) : Math.round(r).toString(); }

  function updateDests(kind, list, now) {
    var table = document.querySelector('table#dests[data-kind="' + kind + '"]');
    if (!table) return;
    list.forEach(function (d) {
      var row = table.querySelector('tr[data-dest="' + CSS.escape(d.name) + '"]');
      if (!row) return;
      var prev = lastDest[kind + d.name];
      ["depth", "stored", "inflight", "consumers", "enqueued", "dequeued", "expired", "dead_lettered"].forEach(function (f) {
        var cell = row.querySelector('[data-field="' + f + '"]');
        if (cell) cell.textContent = d[f] == null ? "—" : d[f];
      });
      var ri = row.querySelector('[data-field="rate-in"]'), ro = row.querySelector('[data-field="rate-out"]');
      if (ri) ri.textContent = fmt(rate(now, prev, "enqueued", d.enqueued));
      if (ro) ro.textContent = fmt(rate(now, prev, "dequeued", d.dequeued));
      lastDest[kind + d.name] = { now: now, enqueued: d.enqueued, dequeued: d.dequeued };
    });
  }

  function apply(v) {
    var n = v.node;
    setLive("role", n.role);
    document.querySelectorAll('.badge[data-live="role"]').forEach(function (b) { b.className = "badge " + n.role; });
    setLive("epoch", n.epoch != null ? n.epoch : (n.master ? n.master.epoch : "—"));
    setLive("uptime", v.uptime);
    setLive("holder", n.master && n.master.node_id ? n.master.node_id : "none (no valid lease)");
    setLive("connections", v.totals.connections);
    setLive("depth", v.totals.depth);
    setLive("enqueued", v.totals.enqueued);
    setLive("dequeued", v.totals.dequeued);
    v.nodes.forEach(function (c) {
      var row = document.querySelector('#cluster tr[data-node="' + CSS.escape(c.node_id) + '"]');
      if (!row) return;
      row.querySelector('[data-field="seen"]').textContent = c.seen_ago;
      var b = row.querySelector('[data-field="role"]');
      b.textContent = c.is_master ? "master" : c.role;
      b.className = "badge " + (c.is_master ? "master" : "slave");
    });
    var t = { now: v.now, enqueued: v.totals.enqueued, dequeued: v.totals.dequeued };
    var inRate = rate(v.now, last, "enqueued", t.enqueued), outRate = rate(v.now, last, "dequeued", t.dequeued);
    if (inRate != null) {
      history.push({ inRate: inRate, outRate: outRate || 0 });
      if (history.length > POINTS) history.shift();
      setLive("rate-in", fmt(inRate));
      setLive("rate-out", fmt(outRate));
    }
    last = t;
    updateDests("queue", v.queues, v.now);
    updateDests("topic", v.topics, v.now);
    draw();
  }

  var wanted = canvas || document.querySelector("table#dests");
  function poll() {
    // An absolute URL without user info: a page opened as
    // http://user:pass@host/ would otherwise make fetch() refuse.
    fetch(location.protocol + "//" + location.host + "/dashboard/live.json", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) { if (v) apply(v); })
      .catch(function () {})
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  if (wanted || document.querySelector('[data-live]')) { draw(); poll(); }
  window.addEventListener("resize", draw);
})();
