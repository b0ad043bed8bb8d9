/* tracekit flame graph: an icicle of the call tree (root on top, callees below, width = total time).
   Click a frame to zoom into it (its ancestors stay on top, full width; click one to zoom out), type in
   the search box to highlight frames by name, hover a frame for total/self/calls/CPU. With `delta` in the
   data (diff.html) a frame is coloured by how its total changed: red slower, blue faster.
   Data comes only from the JSON block named by the container's data-src; every string reaches the page
   through textContent, never as markup. The page's CSP allows this script by its hash. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var ROW = 18, CHAR = 6.6;
  var ORIGIN_HUE = { own: 28, package: 210, stdlib: 95, unknown: 0 };

  function fmt(us) {
    var s = us / 1e6;
    return s >= 1 ? s.toFixed(3) + " s" : s >= 1e-3 ? (s * 1e3).toFixed(2) + " ms" : (s * 1e6).toFixed(0) + " µs";
  }

  function signed(us) { return (us >= 0 ? "+" : "−") + fmt(Math.abs(us)); }

  function colour(d, i) {
    if (d.delta) {
      var t = Math.max(-1, Math.min(1, d.delta[i] / (d.scale || 1)));
      var light = 96 - 46 * Math.abs(t);
      return Math.abs(t) < 0.02 ? "hsl(0,0%,88%)" : "hsl(" + (t > 0 ? 0 : 215) + ",75%," + light + "%)";
    }
    if (d.kind[i] !== "call") return "hsl(265,30%,82%)";
    var hue = ORIGIN_HUE[d.origin[i]];
    if (d.origin[i] === "unknown") return "hsl(0,0%,82%)";
    // a stable small variation per name so neighbouring frames stay apart
    var h = 0, s = d.labels[d.name[i]];
    for (var k = 0; k < s.length; k++) h = (h * 31 + s.charCodeAt(k)) % 997;
    return "hsl(" + (hue + (h % 20) - 10) + ",65%," + (62 + (h % 12)) + "%)";
  }

  function describe(d, i) {
    var base = d.titles[d.name[i]];
    var share = d.total[0] > 0 ? " (" + (100 * d.total[i] / d.total[0]).toFixed(1) + "% of all)" : "";
    if (d.delta) {
      var before = d.total[i] - d.delta[i];
      var pct = before > 0 ? " (" + (d.delta[i] >= 0 ? "+" : "") + (100 * d.delta[i] / before).toFixed(0) + "%)" : " (new)";
      return base + " — " + d.sides[0] + " " + fmt(before) + " → " + d.sides[1] + " " + fmt(d.total[i]) +
        ": " + signed(d.delta[i]) + (d.total[i] === 0 ? " (gone)" : pct);
    }
    var cpu = d.cpu[i] == null ? "CPU unknown" : "CPU " + fmt(d.cpu[i] * 1e6);
    var calls = d.kind[i] === "call" ? ", " + d.calls[i] + (d.calls[i] === 1 ? " call" : " calls") : "";
    // A package's function named "module.func" has no Python frame: compiled (a C extension, mypyc),
    // so the calls it makes inside compiled code never reach the tracer and count as its self time.
    var compiled = d.kind[i] === "call" && d.origin[i] !== "stdlib" && !/ \(.*:\d+\)$/.test(base)
      ? "; compiled: its calls inside compiled code are not traced (they count as its self time)" : "";
    return base + " — total " + fmt(d.total[i]) + share + ", self " + fmt(d.self[i]) + calls + ", " + cpu + compiled;
  }

  function FlameGraph(box) {
    var d = JSON.parse(document.getElementById(box.getAttribute("data-src")).textContent);
    var svg = box.querySelector("svg.flame");
    var info = box.querySelector(".flame-info");
    var search = box.querySelector(".flame-search");
    var matches = box.querySelector(".flame-matches");
    var n = d.parent.length, kids = [], depth = [], i;
    for (i = 0; i < n; i++) { kids.push([]); depth.push(d.parent[i] < 0 ? 0 : depth[d.parent[i]] + 1); }
    for (i = 1; i < n; i++) kids[d.parent[i]].push(i);
    kids.forEach(function (k) { k.sort(function (a, b) { return d.total[b] - d.total[a]; }); });
    var state = { focus: 0, query: "" };

    function matchesQuery(j) { return state.query !== "" && d.labels[d.name[j]].toLowerCase().indexOf(state.query) >= 0; }

    function frame(j, x, w, y) {
      var g = document.createElementNS(SVG, "g");
      g.setAttribute("data-i", String(j));
      g.setAttribute("class", "frame" + (matchesQuery(j) ? " match" : "") + (j === state.focus ? " focus" : ""));
      var r = document.createElementNS(SVG, "rect");
      r.setAttribute("x", x.toFixed(1)); r.setAttribute("y", String(y));
      r.setAttribute("width", Math.max(0.5, w - 0.5).toFixed(1)); r.setAttribute("height", String(ROW - 1));
      r.setAttribute("fill", matchesQuery(j) ? "#e040fb" : colour(d, j));
      var title = document.createElementNS(SVG, "title");
      title.textContent = describe(d, j);
      g.appendChild(title); g.appendChild(r);
      var fit = Math.floor((w - 6) / CHAR);
      if (fit >= 3) {
        var t = document.createElementNS(SVG, "text");
        t.setAttribute("x", (x + 3).toFixed(1)); t.setAttribute("y", String(y + ROW - 5));
        var label = d.labels[d.name[j]];
        t.textContent = label.length <= fit ? label : label.slice(0, fit - 1) + "…";
        g.appendChild(t);
      }
      svg.appendChild(g);
    }

    function draw() {
      var width = Math.max(600, Math.floor(box.clientWidth || 1180));
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      var chain = [], j = state.focus;
      while (j >= 0) { chain.unshift(j); j = d.parent[j]; }
      chain.forEach(function (a, k) { frame(a, 0, width, k * ROW); });
      var top = chain.length - 1, maxRow = top, drawn = chain.length, hit = 0;
      var stack = [[state.focus, 0, width, top, false]];
      while (stack.length) {
        var item = stack.pop(), node = item[0], x = item[1], w = item[2], row = item[3];
        var under = item[4] || matchesQuery(node);  // a match inside a match is not counted again
        if (!item[4] && matchesQuery(node)) hit += d.total[node];
        var scale = d.total[node] > 0 ? w / d.total[node] : 0;
        var cx = x;
        kids[node].forEach(function (c) {
          var cw = d.total[c] * scale;
          if (cw >= 0.5) {
            frame(c, cx, cw, (row + 1) * ROW);
            drawn++;
            maxRow = Math.max(maxRow, row + 1);
            stack.push([c, cx, cw, row + 1, under]);
          }
          cx += cw;
        });
      }
      var h = (maxRow + 1) * ROW + 2;
      svg.setAttribute("viewBox", "0 0 " + width + " " + h);
      svg.setAttribute("width", String(width));
      svg.setAttribute("height", String(h));
      box.setAttribute("data-drawn", String(drawn));
      box.setAttribute("data-focus", String(state.focus));
      if (matches) {
        var found = svg.querySelectorAll("g.match").length;
        matches.textContent = state.query === "" ? "" : found + " frames match: " +
          (d.total[state.focus] > 0 ? (100 * Math.min(1, hit / d.total[state.focus])).toFixed(1) : "0") +
          "% of the zoomed frame's time";
      }
    }

    svg.addEventListener("click", function (e) {
      var g = e.target.closest && e.target.closest("g.frame");
      if (!g) return;
      state.focus = parseInt(g.getAttribute("data-i"), 10);
      draw();
    });
    svg.addEventListener("mouseover", function (e) {
      var g = e.target.closest && e.target.closest("g.frame");
      if (g && info) info.textContent = describe(d, parseInt(g.getAttribute("data-i"), 10));
    });
    if (search) search.addEventListener("input", function () { state.query = search.value.trim().toLowerCase(); draw(); });
    var reset = box.querySelector(".flame-reset");
    if (reset) reset.addEventListener("click", function () { state.focus = 0; draw(); });
    window.addEventListener("resize", draw);
    draw();
  }

  Array.prototype.forEach.call(document.querySelectorAll(".flame-box[data-src]"), FlameGraph);
  document.documentElement.setAttribute("data-flame-ready", "1");
})();
