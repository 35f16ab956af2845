// The KPI dashboard's script, inlined into the page by delivery/dashboard.py. It draws the
// cards, trend charts (SVG) and freshness table from the JSON embedded in the page, and redraws
// the cards when the municipality filter changes. No library, no network.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const SVG_NS = "http://www.w3.org/2000/svg"; // a namespace name, not something fetched
  const municipalities = new Map(data.municipalities.map((m) => [m.id, m]));
  const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

  // --- DOM helpers -------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    return fill(node, attrs, children);
  }

  function svg(tag, attrs, ...children) {
    return fill(document.createElementNS(SVG_NS, tag), attrs, children);
  }

  function fill(node, attrs, children) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  /** "English · ไทย", the Thai part marked as such for fonts and screen readers. */
  function both(en, th) {
    return th ? [en, " · ", el("span", { lang: "th" }, th)] : [en];
  }

  // --- header: filter, run, legend -----------------------------------------------------------

  function renderFilter(select) {
    for (const m of data.municipalities) {
      select.append(el("option", { value: m.id }, `${m.name_en} · ${m.name_th}`));
    }
  }

  function renderRun() {
    const run = data.run;
    const about = run.flow_name
      ? ` (${run.flow_name} flow${run.finished_at ? ", finished " + run.finished_at : ""})`
      : " (dbt invocation, not in the run ledger)";
    const older = run.other_runs
      ? `; older periods kept from ${run.other_runs} earlier run(s)`
      : "";
    const report = data.quality_report
      ? el("a", { href: data.quality_report, id: "quality-report" }, "latest report")
      : el("span", { id: "quality-report" }, "none yet · ยังไม่มี");
    document.getElementById("run").append(
      el("span", {},
        el("strong", {}, ...both("KPIs computed by run", "รหัสการประมวลผล")), ": ",
        el("code", { id: "run-id" }, run.run_id), about + older),
      el("span", {},
        el("strong", {}, ...both("Data-quality report", "รายงานคุณภาพข้อมูล")), ": ", report),
      el("span", {},
        el("strong", {}, ...both("Generated", "สร้างเมื่อ")), `: ${data.generated_at} (Bangkok)`),
    );
  }

  function renderLegend() {
    const legend = document.getElementById("legend");
    legend.append(el("strong", {}, ...both("Status", "สถานะ")));
    for (const [status, label] of Object.entries(data.statuses)) {
      legend.append(el("span", { class: "item" },
        el("span", { class: "swatch", style: `background: var(--${status})` }),
        ...both(label.en, label.th)));
    }
    legend.append(
      el("span", { class: "item" }, el("span", { class: "dash" }), ...both("target", "เป้าหมาย")),
      el("span", { class: "item" },
        el("span", { class: "swatch", style: "border: 2px solid var(--muted)" }),
        ...both("period to date", "ข้อมูลถึงปัจจุบัน")),
    );
  }

  // --- cards ---------------------------------------------------------------------------------

  function renderAreas(selected) {
    const main = document.getElementById("areas");
    main.replaceChildren();
    const byId = new Map(data.kpis.map((k) => [k.kpi_id, k]));
    for (const area of data.focus_areas) {
      const section = el("section", { class: "area", "data-focus-area": area.name },
        el("h2", {}, ...both(area.en, area.th),
          el("span", { class: "count" }, ` (${area.kpi_ids.length} KPIs)`)));
      const grid = el("div", { class: "area-grid" });
      for (const id of area.kpi_ids) grid.append(card(byId.get(id), selected));
      section.append(grid);
      main.append(section);
    }
  }

  function card(kpi, selected) {
    const key = kpi.scope === "municipality" ? selected : "city";
    const node = el("article", { class: "card", id: `kpi-${kpi.kpi_id}`, "data-kpi": kpi.kpi_id },
      el("div", { class: "card-head" },
        el("span", { class: "kpi-id" }, `${kpi.kpi_id} · ${kpi.smart_dimension}`),
        scopeTag(kpi, selected)),
      el("div", { class: "name-en", title: formulaText(kpi) }, kpi.name_en),
      el("div", { class: "name-th", lang: "th" }, kpi.name_th));
    let status = "no_data";
    if (kpi.scope === "route") {
      status = routes(node, kpi);
    } else {
      const row = kpi.headline[key];
      status = row ? row.status : "no_data";
      node.append(headline(kpi, row, selected));
      const secondary = kpi.secondary[key];
      if (secondary) node.append(secondaryLine(kpi, secondary));
    }
    node.classList.add(status);
    node.append(trend(kpi, kpi.trend[kpi.scope === "route" ? "all" : key] || []));
    return node;
  }

  function formulaText(kpi) {
    return `${kpi.formula} (${kpi.grain})` + (kpi.standard_ref ? `; ${kpi.standard_ref}` : "");
  }

  function scopeTag(kpi, selected) {
    if (kpi.scope === "municipality") {
      const m = municipalities.get(selected);
      return el("span", { class: "scope municipality" }, ...both(m.name_en, m.name_th_short));
    }
    if (kpi.scope === "route") {
      return el("span", { class: "scope route" }, ...both("per route", "รายเส้นทาง"));
    }
    return el("span", { class: "scope city" }, ...both("city-wide", "ทั้งเมือง"));
  }

  /** The element showing one value of fct_kpi_values, with attributes naming that row. */
  function valueElement(kpi, row, role) {
    return el("span", {
      class: `kpi-value ${role}`,
      "data-kpi": kpi.kpi_id,
      "data-role": role,
      "data-municipality": row.municipality_id,
      "data-route": row.route_id,
      "data-period-grain": row.period_grain,
      "data-period-start": row.period_start,
      "data-value": row.value === null ? "" : String(row.value),
      "data-status": row.status,
      "data-suppressed": row.is_suppressed ? "true" : null,
      "data-run-id": row.run_id,
      title: `${kpi.kpi_id} ${row.period_start}: ${row.value === null ? row.status : row.value}`,
    }, ...shownText(row));
  }

  function shownText(row) {
    if (row.is_suppressed) return both("suppressed (count under 5)", "ปกปิด");
    return row.value === null ? both("no data", "ไม่มีข้อมูล") : [row.display];
  }

  function periodText(row) {
    return [
      el("span", { class: "period" }, ...both(row.label.en, row.label.th)),
      row.is_partial ? el("span", { class: "partial" }, " (", ...coverageText(row), ")") : null,
    ];
  }

  /** How much of an incomplete period the value covers: "12 of 31 days", else "to date". */
  function coverageText(row) {
    if (!row.coverage) return both("to date", "ถึงปัจจุบัน");
    const { days, of } = row.coverage;
    return both(`${days} of ${of} days`, `${days} จาก ${of} วัน`);
  }

  function unitText(kpi) {
    if (kpi.unit === "share") return null;
    return el("span", { class: "unit" }, ...both(kpi.unit, kpi.unit_th));
  }

  function statusBadge(status) {
    const label = data.statuses[status];
    return el("span", { class: `badge ${status}` }, ...both(label.en, label.th));
  }

  function headline(kpi, row, selected) {
    const box = el("div", { class: "headline-box" });
    if (!row) {
      const where = kpi.scope === "municipality" ? ` for ${municipalities.get(selected).name_en}` : "";
      box.append(el("div", { class: "headline-row" },
        el("span", { class: "headline missing" }, ...both(`no data${where}`, "ไม่มีข้อมูล"))));
      return box;
    }
    box.append(
      el("div", { class: "headline-row" }, valueElement(kpi, row, "headline"), unitText(kpi)),
      el("div", {}, ...periodText(row)),
      targetRow(kpi, row.status),
    );
    if (kpi.numerator_label && row.numerator_display) {
      box.append(el("div", { class: "secondary" },
        ...both(kpi.numerator_label.en, kpi.numerator_label.th), `: ${row.numerator_display}`));
    }
    return box;
  }

  function targetRow(kpi, status) {
    const target = kpi.target_display
      ? [...both("Target", "เป้าหมาย"), " ", kpi.target_display]
      : both("No target", "ไม่มีเป้าหมาย");
    return el("div", { class: "target-row" }, el("span", {}, ...target), statusBadge(status));
  }

  function secondaryLine(kpi, row) {
    return el("div", { class: "secondary" },
      ...periodText(row), ": ", valueElement(kpi, row, "secondary"));
  }

  /** A per-route KPI: each route's latest day, and how many of them meet the target. */
  function routes(node, kpi) {
    const rows = Object.keys(kpi.headline).sort().map((route) => kpi.headline[route]);
    const days = new Set(rows.map((r) => r.period_start));
    const sameDay = days.size === 1;
    const met = rows.filter((r) => r.status === "met").length;
    const table = el("table", { class: "routes" },
      rows.map((row) => el("tr", { "data-route": row.route_id },
        el("td", {}, el("strong", {}, row.route_id)),
        el("td", { class: "num" }, valueElement(kpi, row, "route")),
        el("td", {}, statusMark(row.status)),
        sameDay ? null : el("td", {}, ...periodText(row)))));
    node.append(
      el("div", { class: "secondary" },
        ...both("Each route's latest day", "วันล่าสุดของแต่ละเส้นทาง"),
        ...(sameDay ? [": ", ...periodText(rows[0])] : [])),
      table,
      el("div", { class: "target-row" },
        el("span", {}, ...both("Target", "เป้าหมาย"), " ", kpi.target_display || "–"),
        el("span", { class: "route-summary" },
          ...both(`${met} of ${rows.length} routes met it`,
            `ผ่าน ${met} จาก ${rows.length} เส้นทาง`))),
    );
    if (!rows.length) return "no_data";
    return met === rows.length ? "met" : "not_met";
  }

  /** A status as a coloured dot and its short name, for compact tables. */
  function statusMark(status) {
    const label = data.statuses[status];
    return el("span", { class: "mark", title: `${label.en} · ${label.th}` },
      el("span", { class: "swatch", style: `background: var(--${status})` }), " ", label.en);
  }

  // --- the trend chart -------------------------------------------------------------------------

  function trend(kpi, points) {
    const caption = {
      months: both("Last 12 months", "แนวโน้ม 12 เดือน"),
      "monthly summary of days": both(
        "Last 12 months: Σ numerator ÷ Σ denominator of the days" +
          (kpi.scope === "route" ? ", all routes" : ""),
        "แนวโน้ม 12 เดือน (รวมรายวัน)"),
      years: both("By year", "รายปี"),
    }[kpi.trend_kind] || both("Trend", "แนวโน้ม");
    const box = el("div", { class: "trend", "data-kpi": kpi.kpi_id, "data-points": points.length },
      el("div", { class: "trend-caption" }, ...caption));
    if (!points.some((p) => p.value !== null)) {
      box.append(el("div", { class: "trend-caption" }, ...both("no data", "ไม่มีข้อมูล")));
      return box;
    }
    box.append(chart(kpi, points));
    return box;
  }

  function axisLabel(value, unit) {
    if (unit === "share") return `${Math.round(value * 100)}%`;
    return (unit === "THB" ? "฿" : "") + compact.format(value);
  }

  function chart(kpi, points) {
    const W = 320, H = 112, L = 44, R = 10, T = 10, B = 22;
    const values = points.filter((p) => p.value !== null).map((p) => p.value);
    const target = kpi.target;
    let lo = Math.min(0, ...values, target ?? 0);
    let hi = Math.max(...values, target ?? -Infinity);
    if (hi <= lo) hi = lo + 1;
    const x = (i) => (points.length === 1 ? (L + W - R) / 2 : L + (i * (W - L - R)) / (points.length - 1));
    const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
    const root = svg("svg", {
      viewBox: `0 0 ${W} ${H}`, role: "img",
      "aria-label": `${kpi.kpi_id} trend, ${points.length} periods`,
    });
    root.append(
      svg("line", { class: "axis", x1: L, x2: W - R, y1: y(lo), y2: y(lo) }),
      svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: y(lo) }),
      svg("text", { x: L - 4, y: y(hi) + 4, "text-anchor": "end" }, axisLabel(hi, kpi.unit)),
      svg("text", { x: L - 4, y: y(lo), "text-anchor": "end" }, axisLabel(lo, kpi.unit)),
      svg("text", { x: x(0), y: H - 6, "text-anchor": points.length === 1 ? "middle" : "start" },
        points[0].label.short),
    );
    if (points.length > 1) {
      root.append(svg("text", { x: x(points.length - 1), y: H - 6, "text-anchor": "end" },
        points[points.length - 1].label.short));
    }
    if (target !== null && target !== undefined) {
      root.append(svg("line", { class: "target", x1: L, x2: W - R, y1: y(target), y2: y(target) },
        svg("title", {}, `target ${kpi.target_display}`)));
    }
    let segment = [];
    const flush = () => {
      if (segment.length > 1) root.append(svg("polyline", { class: "line", points: segment.join(" ") }));
      segment = [];
    };
    points.forEach((p, i) => {
      if (p.value === null) return flush();
      segment.push(`${x(i).toFixed(1)},${y(p.value).toFixed(1)}`);
    });
    flush();
    points.forEach((p, i) => {
      if (p.value === null) return;
      const colour = `var(--${p.status})`;
      const summary = p.is_summary ? ` (${p.days} days)` : "";
      root.append(svg("circle", {
        class: `point ${p.status}`, cx: x(i).toFixed(1), cy: y(p.value).toFixed(1), r: 3.5,
        fill: p.is_partial ? "#fff" : colour, stroke: colour, "stroke-width": 2,
        "data-period-start": p.period_start, "data-value": String(p.value),
      }, svg("title", {},
        `${p.label.en} · ${p.label.th}: ${p.display}${summary}` +
          `${p.is_partial ? " (to date)" : ""}, ${data.statuses[p.status].en}`)));
    });
    return root;
  }

  // --- freshness -----------------------------------------------------------------------------

  function renderFreshness() {
    const body = document.querySelector("#freshness tbody");
    for (const d of data.freshness) {
      body.append(el("tr", { "data-dataset": d.dataset, "data-freshness": d.freshness },
        el("td", {}, el("code", {}, d.dataset)),
        el("td", {}, el("span", { class: `badge ${d.freshness}` }, ...both(d.label.en, d.label.th))),
        // data-label: the column's name, shown beside the value when a phone stacks the cells
        el("td", { "data-label": "Newest data" }, d.newest_at || "–"),
        el("td", { "data-label": "Last batch" }, d.last_batch_at || "–"),
        el("td", { class: "num", "data-label": "Allowed lag" }, `${d.lag_hours} h`)));
    }
  }

  // --- start ---------------------------------------------------------------------------------

  const select = document.getElementById("municipality");
  renderFilter(select);
  renderRun();
  renderLegend();
  renderFreshness();
  const fromHash = decodeURIComponent(location.hash.slice(1));
  select.value = municipalities.has(fromHash) ? fromHash : data.municipalities[0].id;
  select.addEventListener("change", () => {
    try {
      history.replaceState(null, "", `#${select.value}`); // a link that keeps the choice
    } catch (error) {
      // some browsers refuse history changes on file:// pages; the filter works all the same
    }
    renderAreas(select.value);
  });
  renderAreas(select.value);
})();
