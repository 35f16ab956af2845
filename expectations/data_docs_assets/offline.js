/* Data Docs without a network: a small stand-in for what Great Expectations' pages ask of jQuery,
   Bootstrap and bootstrap-table, which GX loads from CDNs. Written for the Khon Kaen Smart City
   pipelines (it is not jQuery): it builds the tables a page describes in script (the index of
   validation results) with their rows as links, and answers the page's other calls (show/hide,
   prepend, events) so that no script fails. Copied into the site by expectations/data_docs.py. */
(function () {
  "use strict";
  var waiting = [];
  document.addEventListener("DOMContentLoaded", function () {
    waiting.splice(0).forEach(function (run) { run(); });
  });

  function whenReady(run) {
    if (document.readyState === "loading") waiting.push(run); else run();
  }

  function Nodes(list) { this.nodes = list; this.length = list.length; }

  function $(target) {
    if (typeof target === "function") { whenReady(target); return new Nodes([]); }
    if (target instanceof Nodes) return target;
    if (target && (target.nodeType || target === window)) return new Nodes([target]);
    if (typeof target !== "string") return new Nodes([]);
    try {
      return new Nodes(Array.prototype.slice.call(document.querySelectorAll(target)));
    } catch (error) {
      return new Nodes([]);
    }
  }

  function each(nodes, act) { nodes.nodes.forEach(act); return nodes; }
  function chain() { return this; }

  var methods = {
    ready: function (run) { whenReady(run); return this; },
    each: function (run) { return each(this, function (n, i) { run.call(n, i, n); }); },
    parent: function () {
      var found = [];
      this.nodes.forEach(function (n) {
        if (n.parentElement && found.indexOf(n.parentElement) < 0) found.push(n.parentElement);
      });
      return new Nodes(found);
    },
    show: function () { return each(this, function (n) { n.style.display = ""; }); },
    hide: function () { return each(this, function (n) { n.style.display = "none"; }); },
    data: function (key) { return this.nodes[0] ? this.nodes[0].getAttribute("data-" + key) : undefined; },
    addClass: function (c) { return each(this, function (n) { n.classList.add(c); }); },
    removeClass: function (c) { return each(this, function (n) { n.classList.remove(c); }); },
    prepend: function (markup) {
      return each(this, function (n) { n.insertAdjacentHTML("afterbegin", markup); });
    },
    on: function (event, handler) {
      return each(this, function (n) {
        if (event === "click-row.bs.table") n.smartcityRowClick = handler;
        else if (n.addEventListener) n.addEventListener(event.split(".")[0], handler);
      });
    },
    bootstrapTable: function (options) {
      if (!options || typeof options !== "object") return this;
      return each(this, function (table) { fill(table, options); });
    },
    modal: chain, popover: chain, tooltip: chain, collapse: chain, tab: chain
  };
  methods.fadeIn = methods.show;
  methods.fadeOut = methods.hide;
  Object.keys(methods).forEach(function (name) { Nodes.prototype[name] = methods[name]; });

  function sorted(rows, options) {
    var column = (options.columns || []).filter(function (c) { return c.field === options.sortName; })[0];
    if (!column) return rows;
    var key = column.sortName || column.field, sign = options.sortOrder === "desc" ? -1 : 1;
    return rows.slice().sort(function (a, b) {
      return a[key] < b[key] ? -sign : a[key] > b[key] ? sign : 0;
    });
  }

  function fill(table, options) {
    var columns = options.columns || [];
    var attributes = typeof options.rowAttributes === "string"
      ? window[options.rowAttributes] : options.rowAttributes;
    var header = (table.tHead || table.createTHead()).insertRow();
    columns.forEach(function (c) {
      var cell = document.createElement("th");
      cell.textContent = c.title || c.field;
      header.appendChild(cell);
    });
    var body = table.tBodies[0] || table.createTBody();
    sorted(options.data || [], options).forEach(function (row, index) {
      var line = body.insertRow();
      columns.forEach(function (c) {
        line.insertCell().innerHTML = row[c.field] == null ? "" : String(row[c.field]);
      });
      var extra = typeof attributes === "function" ? attributes(row, index) : {};
      Object.keys(extra || {}).forEach(function (name) {
        if (extra[name] != null) line.setAttribute(name, extra[name]);
      });
      line.addEventListener("click", function (event) {
        if (table.smartcityRowClick) table.smartcityRowClick(event, row, new Nodes([line]));
      });
    });
    table.classList.add("smartcity-table");
  }

  window.$ = window.jQuery = $;
})();
