/* tracekit report: draws the time-series charts with uPlot and makes tables sortable.
   Data comes only from the JSON block #tk-data; every string reaches the page through uPlot's or our
   own textContent, never as markup. The page's CSP allows this script by its hash. */
(function () {
  "use strict";
  var dataEl = document.getElementById("tk-data");  // absent on pages without charts (diff.html)
  var data = dataEl ? JSON.parse(dataEl.textContent) : null;
  var root = document.documentElement;
  var PALETTE = ["#1f5fa8", "#2f8f4e", "#d9822b", "#7b4fb3", "#b00020", "#12858c", "#8c6d1f", "#c2489a"];
  var charts = [];
  var syncing = false;

  function width(el) {
    return Math.max(600, Math.floor(el.clientWidth || 1180));
  }

  function note(el, text) {
    var p = document.createElement("p");
    p.className = "hint";
    p.textContent = text;
    el.appendChild(p);
  }

  function zoomAll(u) {
    // One time axis for every chart: a zoom on one applies to all of them.
    if (syncing) return;
    syncing = true;
    var min = u.scales.x.min, max = u.scales.x.max;
    charts.forEach(function (c) {
      if (c !== u) c.setScale("x", { min: min, max: max });
    });
    syncing = false;
  }

  function chart(id, title, yLabel, series, columns, opts) {
    var el = document.getElementById(id);
    if (!el) return;
    if (!columns[0].length) {
      note(el, title + ": no samples in the script's window.");
      return;
    }
    var o = {
      title: title,
      width: width(el),
      height: (opts && opts.height) || 220,
      cursor: { sync: { key: "tracekit" }, drag: { x: true, y: false } },
      scales: { x: { time: false, min: 0, max: data.end_s }, y: (opts && opts.y) || {} },
      axes: [
        { label: "seconds since the script started", values: function (u, v) { return v.map(function (x) { return x + " s"; }); } },
        { label: yLabel, size: 60 },
      ],
      series: [{ label: "t (s)", value: function (u, v) { return v == null ? "--" : v.toFixed(3); } }].concat(series),
      hooks: { setScale: [function (u, key) { if (key === "x") zoomAll(u); }] },
    };
    charts.push(new uPlot(o, columns, el));
  }

  if (data) drawCharts();

  function drawCharts() {
    var f = data.flight;
    var stepped = uPlot.paths.stepped({ align: 1 });
    var cores = f.t.map(function () { return data.cores; });
    chart("chart-flight", "Workers in flight and cores busy", "workers / cores", [
      { label: "workers in flight", stroke: "#7b4fb3", width: 2.5, paths: stepped, points: { show: false }, fill: "rgba(123,79,179,0.10)" },
      { label: "cores busy", stroke: "#d9822b", width: 2, fill: "rgba(217,130,43,0.30)", spanGaps: true, paths: stepped, points: { show: false } },
      { label: "cores available", stroke: "#888", width: 1, dash: [6, 4], points: { show: false } },
    ], [f.t, f.in_flight, f.cores_busy, cores], { height: 260, y: { range: function (u, min, max) { return [0, Math.max(max, data.cores) * 1.1]; } } });

    var p = data.procs;
    function perProcess(values, unit) {
      return p.names.map(function (name, i) {
        return {
          label: name,
          stroke: PALETTE[i % PALETTE.length],
          width: 1.5,
          spanGaps: true,
          paths: stepped,
          points: { show: false },
          value: function (u, v) { return v == null ? "--" : v.toFixed(1) + unit; },
        };
      });
    }
    chart("chart-cpu", "CPU per process (% of one core)", "CPU %", perProcess(p.cpu_pct, " %"), [p.t].concat(p.cpu_pct),
          { height: 200, y: { range: function (u, min, max) { return [0, Math.max(100, max) * 1.05]; } } });
    chart("chart-rss", "Memory per process (RSS)", "MiB", perProcess(p.rss_mib, " MiB"), [p.t].concat(p.rss_mib),
          { height: 200, y: { range: function (u, min, max) { return [0, Math.max(1, max) * 1.1]; } } });

    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.setSize({ width: width(c.root.parentNode), height: c.height }); });
    });
  }

  // Sortable tables: click a header to sort by that column; numbers sort as numbers, blanks last.
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.querySelectorAll("thead th");
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var num = th.getAttribute("data-type") === "num";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        function key(row) {
          var t = row.cells[col].textContent;
          if (!num) return t.toLowerCase();
          return t === "" ? null : parseFloat(t);
        }
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          if (x === y) return 0;
          if (x === null) return 1;
          if (y === null) return -1;
          return (x < y ? -1 : 1) * (asc ? 1 : -1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  root.setAttribute("data-charts", String(charts.length));
  root.setAttribute("data-ready", "1");
})();
