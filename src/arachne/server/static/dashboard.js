// Arachne dashboard: one page over the service's REST routes and its /ws event socket.
// No build step and no framework: the DOM, fetch, WebSocket and Cytoscape.js (vendored).
// Everything it shows comes from the API with the caller's credentials; every control calls
// the same routes a script would, so the service checks the role, not the page.
"use strict";

(() => {
  const LOG_LINES = 200; // event log entries kept in the page
  const SPARK_POINTS = 120; // frames a sparkline shows (30 s at four frames a second)
  const MIN_ZOOM = 0.6; // below it a node's text is too small to read
  const TOKEN_KEY = "arachne.token";
  const ROLES = ["viewer", "operator", "admin"];

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  };

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    role: null,
    components: null, // component id -> definition
    page: null,
    timer: null,
    execution: null, // the execution page's state, see openExecution
  };

  // -- the API -------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, error, body) {
      super(error && error.message ? error.message : `HTTP ${status}`);
      this.status = status;
      this.code = error && error.code;
      this.body = body;
    }
  }

  async function api(method, path, body, contentType) {
    const headers = {};
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    let payload;
    if (body !== undefined) {
      headers["Content-Type"] = contentType || "application/json";
      payload = typeof body === "string" ? body : JSON.stringify(body);
    }
    const response = await fetch(path, { method, headers, body: payload });
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (_) {
        data = null;
      }
    }
    if (response.status === 401) {
      showLogin(data && data.error ? data.error.message : "Sign in to continue.");
      throw new ApiError(401, data && data.error, data);
    }
    if (!response.ok) throw new ApiError(response.status, data && data.error, data);
    return data;
  }

  function may(role) {
    return state.role !== null && ROLES.indexOf(state.role) >= ROLES.indexOf(role);
  }

  // Controls marked data-role are enabled only for callers with that role or above.
  function applyRoles(root = document) {
    for (const control of root.querySelectorAll("[data-role]")) {
      const needed = control.getAttribute("data-role");
      const allowed = may(needed);
      control.disabled = !allowed || control.dataset.busy === "1";
      if (allowed) control.removeAttribute("title");
      else control.title = `Needs the ${needed} role; you are a ${state.role || "guest"}`;
    }
  }

  function notice(text) {
    const box = $("notice");
    box.textContent = text;
    box.hidden = !text;
  }

  // -- signing in ------------------------------------------------------------------------------

  async function whoami() {
    const me = await api("GET", "/api/whoami");
    state.role = me.role;
    state.singleRun = Boolean(me.singleRun);
    const who = me.authentication ? `signed in · ${me.role}` : "local · authentication off";
    $("who").textContent = state.singleRun ? `${who} · one run` : who;
    $("sign-out").hidden = !me.authentication;
    $("nav-load").hidden = state.singleRun; // (that service loads and starts nothing)
    applyRoles();
    return me;
  }

  function showLogin(message) {
    stopPage();
    state.role = null;
    for (const section of document.querySelectorAll("main > section")) section.hidden = true;
    $("login").hidden = false;
    // (asked for the first time, the page just asks; a refusal of a key given is an error)
    $("login-error").textContent = state.token ? message || "" : "";
    $("token").focus();
  }

  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    try {
      await whoami();
      $("token").value = "";
      route();
    } catch (error) {
      if (error.status !== 401) $("login-error").textContent = error.message;
    }
  });

  $("sign-out").addEventListener("click", () => {
    state.token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("Signed out.");
  });

  // -- pages -----------------------------------------------------------------------------------

  function stopPage() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
    if (state.execution) state.execution.close();
    state.execution = null;
  }

  function show(id) {
    for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== id;
    state.page = id;
    const heading = $(id).querySelector("h1");
    if (heading && document.activeElement && !$(id).contains(document.activeElement)) heading.focus();
  }

  async function route() {
    stopPage();
    notice("");
    if (state.role === null) {
      try {
        await whoami();
      } catch (error) {
        if (error.status !== 401) notice(`The service did not answer: ${error.message}`);
        return;
      }
    }
    const hash = location.hash || "#/";
    const match = hash.match(/^#\/executions\/(.+)$/);
    if (match) return openExecution(decodeURIComponent(match[1]));
    if (hash === "#/load") {
      show("load");
      applyRoles();
      return;
    }
    show("home");
    await refreshHome();
    state.timer = setInterval(refreshHome, 2000);
  }

  window.addEventListener("hashchange", route);

  // -- executions and graphs -------------------------------------------------------------------

  function age(seconds) {
    if (seconds < 60) return `${Math.round(seconds)} s`;
    if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  // Rows are kept by id and updated in place, so focus and a screen reader's place survive
  // the refresh every two seconds.
  function keyedRows(tbody, items, key, make, update) {
    const rows = new Map([...tbody.rows].map((row) => [row.dataset.key, row]));
    let previous = null;
    for (const item of items) {
      const id = key(item);
      let row = rows.get(id);
      if (row) rows.delete(id);
      else {
        row = make(item);
        row.dataset.key = id;
      }
      update(row, item);
      const wanted = previous ? previous.nextSibling : tbody.firstChild;
      if (row !== wanted) tbody.insertBefore(row, wanted);
      previous = row;
    }
    for (const row of rows.values()) row.remove();
  }

  async function refreshHome() {
    let executions, graphs;
    try {
      [executions, graphs] = await Promise.all([api("GET", "/api/executions"), api("GET", "/api/graphs")]);
    } catch (error) {
      if (error.status !== 401) notice(`Could not list executions: ${error.message}`);
      return;
    }
    if (state.page !== "home") return;
    const now = Date.now() / 1000;
    keyedRows(
      $("executions").tBodies[0],
      executions.slice().reverse(),
      (ex) => ex.id,
      (ex) => {
        const link = el("a", { href: `#/executions/${encodeURIComponent(ex.id)}`, text: ex.id });
        return el("tr", {}, el("td", {}, link), el("td"), el("td", {}, el("span")), ...[1, 2, 3, 4].map(() => el("td", { class: "num" })));
      },
      (row, ex) => {
        const metrics = ex.metrics || {};
        const cells = row.cells;
        cells[1].textContent = ex.graphName || ex.graphId;
        cells[2].firstChild.className = `state ${ex.state}`;
        cells[2].firstChild.textContent = ex.state;
        cells[3].textContent = age(now - (ex.startedAt || ex.createdAt));
        cells[4].textContent = String(metrics.messagesProcessed ?? "");
        cells[5].textContent = String(metrics.errorCount ?? "");
        cells[6].textContent = metrics.avgLatencyMs != null ? `${metrics.avgLatencyMs.toFixed(2)} ms` : "";
      },
    );
    $("no-executions").hidden = executions.length > 0;
    keyedRows(
      $("graphs").tBodies[0],
      graphs,
      (graph) => graph.id,
      (graph) => {
        const run = el("button", { type: "button", "data-role": "operator", text: "Execute", onclick: () => execute(graph.id, $("home-lineage").checked) });
        run.setAttribute("aria-label", `Execute ${graph.name || graph.id}`);
        run.hidden = state.singleRun;
        return el("tr", {}, el("td", { text: graph.name || graph.id }), el("td", { text: graph.version || "" }), el("td", { class: "num", text: String(graph.nodeCount) }), el("td", { class: "num", text: String(graph.edgeCount) }), el("td", {}, run));
      },
      () => {},
    );
    $("no-graphs").hidden = graphs.length > 0;
    applyRoles($("graphs"));
    window.arachneDashboard.refreshes += 1;
  }

  async function execute(graphId, lineage) {
    try {
      const query = lineage ? "?lineage=1" : ""; // (every message: a dashboard session is small)
      const started = await api("POST", `/api/graphs/${encodeURIComponent(graphId)}/execute${query}`);
      location.hash = `#/executions/${encodeURIComponent(started.executionId)}`;
    } catch (error) {
      notice(`Could not execute: ${error.message}`);
    }
  }

  // -- loading a graph -------------------------------------------------------------------------

  function documentBody() {
    const text = $("document").value;
    const yaml = !text.trimStart().startsWith("{");
    return [text, yaml ? "application/yaml" : "application/json"];
  }

  function showProblems(problems) {
    const box = $("problems");
    if (!problems || problems.length === 0) {
      box.replaceChildren();
      return;
    }
    const items = problems.map((problem) => {
      const where = problem.path ? el("code", { text: problem.path }) : el("code", { text: "(document)" });
      let message = problem.message;
      if (problem.path && message.startsWith(`${problem.path}: `)) message = message.slice(problem.path.length + 2);
      return el("li", {}, where, ` ${message}`);
    });
    box.replaceChildren(el("p", { text: `${problems.length} problem${problems.length > 1 ? "s" : ""}:` }), el("ul", {}, ...items));
  }

  async function validate() {
    $("load-result").textContent = "";
    const [text, type] = documentBody();
    try {
      const answer = await api("POST", "/api/validate", text, type);
      showProblems(answer.problems);
      if (answer.valid) $("load-result").textContent = "Valid: it would load.";
      return answer.valid;
    } catch (error) {
      showProblems([{ path: "", message: error.message }]);
      return false;
    }
  }

  async function load(thenExecute) {
    $("load-result").textContent = "";
    const [text, type] = documentBody();
    try {
      const graph = await api("POST", "/api/graphs", text, type);
      showProblems([]);
      $("load-result").textContent = `Loaded ${graph.name || graph.id} (${graph.nodeCount} nodes, ${graph.edgeCount} edges).`;
      if (thenExecute) await execute(graph.id, $("load-lineage").checked);
    } catch (error) {
      const body = error.body && error.body.error;
      showProblems(body && body.problems ? body.problems : [{ path: "", message: error.message }]);
    }
  }

  $("validate").addEventListener("click", validate);
  $("load-form").addEventListener("submit", (event) => {
    event.preventDefault();
    load(false);
  });
  $("load-execute").addEventListener("click", () => load(true));
  $("document-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) {
      $("document").value = await file.text();
      await validate();
    }
  });

  // -- one execution -----------------------------------------------------------------------------

  function format(value, unit) {
    if (value === null || value === undefined) return "–";
    if (unit === "s") {
      if (value < 0.001) return `${(value * 1e6).toFixed(0)} µs`;
      if (value < 1) return `${(value * 1000).toFixed(1)} ms`;
      return `${value.toFixed(2)} s`;
    }
    if (unit === "%") return `${Math.round(value * 100)}%`;
    if (value >= 1000) return `${(value / 1000).toFixed(1)}k`;
    return value >= 10 || Number.isInteger(value) ? String(Math.round(value)) : value.toFixed(1);
  }

  function short(kind) {
    const name = (kind || "").replace(/^(arachne|symbia)\.core\./, "");
    return name.includes(":") ? name.slice(name.lastIndexOf(":") + 1) : name; // (a Python class)
  }

  function groupsOf(id) {
    const parts = id.split("/");
    const groups = [];
    for (let i = 1; i < parts.length; i += 1) groups.push(parts.slice(0, i).join("/"));
    return groups;
  }

  async function components() {
    if (state.components === null) {
      const list = await api("GET", "/api/components");
      state.components = {};
      for (const definition of list) {
        state.components[definition.id] = definition;
        for (const alias of definition.aliases || []) state.components[alias] = definition;
      }
    }
    return state.components;
  }

  async function openExecution(executionId) {
    show("execution");
    const page = new ExecutionPage(executionId);
    state.execution = page;
    await page.start();
  }

  class ExecutionPage {
    constructor(id) {
      this.id = id;
      this.graph = null; // the running graph, as GET .../graph gives it
      this.cy = null;
      this.socket = null;
      this.closed = false;
      this.selected = null; // {kind: "node" | "edge", id}
      this.pending = null; // the change previewed, to commit
      this.series = { rate: [], p99: [], errors: [], drops: [] };
      this.frame = null;
      this.rows = { nodes: new Map(), edges: new Map() };
      this.deadTimer = null;
      this.hasDeadLetters = false;
      this.pendingLog = [];
      this.logScheduled = false;
      this.pendingFrame = null;
      this.shape = null;
      this.previewSeq = 0;
      this.userMoved = false; // the user zoomed or panned: a resize leaves the view alone
      this.retry = 0;
      this.gone = false; // the service forgot the execution
    }

    async start() {
      $("execution-title").textContent = `Execution ${this.id}`;
      $("log").replaceChildren();
      this.clearSelection();
      try {
        const [record] = await Promise.all([api("GET", `/api/executions/${encodeURIComponent(this.id)}`), components()]);
        if (this.closed) return; // (the user went elsewhere meanwhile)
        this.showRecord(record);
        await this.loadGraph();
      } catch (error) {
        if (error.status !== 401 && !this.closed) notice(`Could not open execution ${this.id}: ${error.message}`);
        return;
      }
      if (this.closed) return;
      this.connect();
      this.refreshDeadLetters();
      this.deadTimer = setInterval(() => this.refreshDeadLetters(), 2000);
      $("readonly").hidden = may("operator");
      applyRoles($("execution"));
    }

    close() {
      this.closed = true;
      if (this.socket) this.socket.close();
      if (this.deadTimer) clearInterval(this.deadTimer);
      if (this.cy) this.cy.destroy();
      this.cy = null;
    }

    path(suffix = "") {
      return `/api/executions/${encodeURIComponent(this.id)}${suffix}`;
    }

    showRecord(record) {
      $("execution-graph").textContent = record.graphName ? `graph ${record.graphName}` : "";
      this.showState(record.state);
    }

    showState(value) {
      this.state = value;
      $("execution-state").textContent = value;
      $("execution-state").className = `state ${value}`;
      this.updateControls();
    }

    updateControls() {
      const ended = ["completed", "failed", "cancelled"].includes(this.state);
      $("pause").dataset.busy = ended || this.state === "paused" ? "1" : "0";
      $("resume").dataset.busy = ended || this.state !== "paused" ? "1" : "0";
      $("stop").dataset.busy = ended ? "1" : "0";
      for (const button of document.querySelectorAll("#inject-form button, #selection button[data-role], #replay")) {
        button.dataset.busy = ended ? "1" : "0";
      }
      applyRoles($("execution"));
    }

    // The graph: laid out once (and again only when its shape changes), then restyled live.
    async loadGraph() {
      const graphs = await api("GET", this.path("/graph"));
      if (this.closed) return;
      this.graph = graphs.running;
      this.nodesById = new Map(this.graph.nodes.map((node) => [node.id, node]));
      this.edgesById = new Map(this.graph.edges.map((edge) => [edge.id, edge]));
      this.hasDeadLetters = this.graph.nodes.some((node) => /dead-letters$/.test(node.kind));
      $("dead-letters").hidden = !this.hasDeadLetters;
      if (this.cy === null || this.shapeKey() !== this.shape) {
        this.drawGraph(); // laid out afresh only when nodes or edges came or went
        this.buildTables();
      }
      this.fillInjectPorts();
      if (this.selected) {
        const known = this.selected.kind === "node" ? this.nodesById : this.edgesById;
        if (!known.has(this.selected.id)) this.clearSelection(); // (removed by a live change)
      }
    }

    shapeKey() {
      return JSON.stringify([
        this.graph.nodes.map((n) => `${n.id}:${n.kind}`).sort(),
        this.graph.edges.map((e) => `${e.id}:${e.source.node}>${e.target.node}`).sort(),
      ]);
    }

    drawGraph() {
      const container = $("graph");
      if (typeof window.cytoscape !== "function") {
        container.textContent = "The graph library did not load; the tables below show the same.";
        return;
      }
      const elements = [];
      const groups = new Set();
      for (const node of this.graph.nodes) {
        for (const group of groupsOf(node.id)) groups.add(group);
      }
      for (const group of groups) {
        const parents = groupsOf(group);
        elements.push({ data: { id: `group:${group}`, label: group, parent: parents.length ? `group:${parents.at(-1)}` : undefined }, classes: "group" });
      }
      for (const node of this.graph.nodes) {
        const parents = groupsOf(node.id);
        elements.push({
          data: {
            id: node.id,
            label: `${node.id.split("/").at(-1)}\n${short(node.kind)}`,
            parent: parents.length ? `group:${parents.at(-1)}` : undefined,
          },
        });
      }
      for (const edge of this.graph.edges) {
        elements.push({ data: { id: edge.id, source: edge.source.node, target: edge.target.node, fill: 0, width: 2 } });
      }
      if (this.cy) this.cy.destroy();
      this.shape = this.shapeKey();
      window.arachneDashboard.layouts += 1;
      this.cy = window.cytoscape({
        container,
        elements,
        style: graphStyle(),
        layout: { name: window.cytoscapeDagre || window.dagre ? "dagre" : "breadthfirst", rankDir: "LR", nodeSep: 30, rankSep: 80, edgeSep: 10, fit: true, padding: 20 },
        boxSelectionEnabled: false,
        autoungrabify: true, // the layout is the map: nodes stay where it put them
      });
      this.cy.on("tap", "node", (event) => {
        if (!event.target.hasClass("group")) this.select("node", event.target.id());
      });
      this.cy.on("tap", "edge", (event) => this.select("edge", event.target.id()));
      this.cy.on("viewport", () => this.moveOverlay());
      this.cy.on("resize", () => this.userMoved || this.readable()); // (a narrowed window)
      this.cy.on("scrollzoom dragpan pinchzoom", () => {
        this.userMoved = true;
      });
      this.readable();
      this.buildOverlay();
      window.arachneDashboard.cy = this.cy;
    }

    // The live figures are HTML over the canvas, placed once at the layout's positions and
    // moved as a whole with the view: Cytoscape's labels never change, so it caches nothing
    // per value (its texture caches keep an entry for every label text they ever drew).
    buildOverlay() {
      const layer = $("overlay");
      this.figures = { nodes: new Map(), edges: new Map() };
      const parts = [];
      for (const node of this.cy.nodes().not(".group")) {
        const box = el("div", { class: "figures" }, el("div"), el("div"));
        const at = node.position();
        box.style.left = `${at.x}px`;
        box.style.top = `${at.y + 2}px`;
        this.figures.nodes.set(node.id(), box);
        parts.push(box);
      }
      for (const edge of this.cy.edges()) {
        const box = el("div", { class: "queue" });
        const at = edge.midpoint();
        box.style.left = `${at.x}px`;
        box.style.top = `${at.y - 9}px`;
        this.figures.edges.set(edge.id(), box);
        parts.push(box);
      }
      layer.replaceChildren(...parts);
      this.moveOverlay();
    }

    // The whole graph if it can be read at that size; else its start at a readable size (drag
    // to pan, or Fit to see it all).
    readable() {
      const cy = this.cy;
      if (!cy) return;
      cy.fit(undefined, 20);
      if (cy.zoom() < MIN_ZOOM) {
        const box = cy.elements().boundingBox();
        cy.zoom(MIN_ZOOM);
        cy.pan({ x: 20 - box.x1 * MIN_ZOOM, y: cy.height() / 2 - ((box.y1 + box.y2) / 2) * MIN_ZOOM });
      }
    }

    zoom(factor) {
      const cy = this.cy;
      if (!cy) return;
      this.userMoved = true;
      cy.zoom({ level: cy.zoom() * factor, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
    }

    moveOverlay() {
      if (!this.cy) return;
      const pan = this.cy.pan();
      $("overlay").style.transform = `translate(${pan.x}px, ${pan.y}px) scale(${this.cy.zoom()})`;
    }

    buildTables() {
      this.rows.nodes.clear();
      this.rows.edges.clear();
      const nodeRows = this.graph.nodes.map((node) => {
        const cells = {
          in: el("td", { class: "num" }),
          out: el("td", { class: "num" }),
          p99: el("td", { class: "num" }),
          busy: el("td", { class: "num" }),
          held: el("td", { class: "num" }),
          errors: el("td", { class: "num" }),
          status: el("td"),
        };
        const name = el("button", { type: "button", class: "rowbutton", text: node.id, onclick: () => this.select("node", node.id, true) });
        const row = el("tr", { "data-node": node.id, onclick: (event) => event.target === name || this.select("node", node.id, true) }, el("td", {}, name), el("td", { text: short(node.kind) }), cells.in, cells.out, cells.p99, cells.busy, cells.held, cells.errors, cells.status);
        this.rows.nodes.set(node.id, { row, cells });
        return row;
      });
      $("nodes").tBodies[0].replaceChildren(...nodeRows);
      const edgeRows = this.graph.edges.map((edge) => {
        const bar = el("span");
        const cells = {
          queue: el("td", {}, el("span", { class: "meter" }, bar), el("span", { class: "depth" })),
          rate: el("td", { class: "num" }),
          passed: el("td", { class: "num" }),
          dropped: el("td", { class: "num" }),
          overflow: el("td", { text: edge.overflow }),
          status: el("td"),
        };
        const name = el("button", { type: "button", class: "rowbutton", text: edge.id, onclick: () => this.select("edge", edge.id, true) });
        const ends = `${edge.source.node}:${edge.source.port} → ${edge.target.node}:${edge.target.port}`;
        const row = el("tr", { "data-edge": edge.id, onclick: (event) => event.target === name || this.select("edge", edge.id, true) }, el("td", {}, name), el("td", { text: ends }), cells.queue, cells.rate, cells.passed, cells.dropped, cells.overflow, cells.status);
        this.rows.edges.set(edge.id, { row, cells, bar });
        return row;
      });
      $("edges").tBodies[0].replaceChildren(...edgeRows);
      if (this.frame) this.paint(this.frame);
    }

    // One view:update frame: numbers into the tables, fills and colours onto the graph.
    paint(frame) {
      this.frame = frame;
      window.arachneDashboard.frames += 1;
      const causes = new Set(frame.causes);
      const waiting = new Map(); // node -> injected values waiting to enter it
      for (const edge of Object.values(frame.edges)) {
        if (edge.kind === "inject" && edge.depth > 0) waiting.set(edge.target, (waiting.get(edge.target) || 0) + edge.depth);
      }
      const cy = this.cy;
      const work = () => {
        for (const [id, node] of Object.entries(frame.nodes)) {
          const entry = this.rows.nodes.get(id);
          const cause = causes.has(id);
          if (entry) {
            entry.cells.in.textContent = format(node.in);
            entry.cells.out.textContent = format(node.out);
            entry.cells.p99.textContent = format(node.p99, "s");
            entry.cells.busy.textContent = format(node.busy, "%");
            entry.cells.held.textContent = format(node.held, "%");
            entry.cells.errors.textContent = String(node.errors);
            entry.row.classList.toggle("cause", cause);
            const queued = waiting.get(id);
            const note = queued ? ` · ${queued} injected waiting` : "";
            entry.cells.status.replaceChildren(cause ? el("span", { class: "badge cause", text: "backpressure cause" }) : node.state, note);
          }
          const figures = this.figures && this.figures.nodes.get(id);
          if (figures) {
            figures.firstChild.textContent = `${format(node.in)}/s · p99 ${format(node.p99, "s")}`;
            figures.lastChild.textContent = `busy ${format(node.busy, "%")} · err ${node.errors}`;
          }
          if (cy) {
            const element = cy.getElementById(id);
            if (element.nonempty()) {
              element.toggleClass("cause", cause);
              element.toggleClass("failing", node.errors > 0);
            }
          }
        }
        for (const [id, edge] of Object.entries(frame.edges)) {
          if (edge.kind !== "link") continue;
          const entry = this.rows.edges.get(id);
          const fill = edge.capacity > 0 ? Math.min(1, edge.depth / edge.capacity) : 0;
          if (entry) {
            entry.bar.style.width = `${Math.round(fill * 100)}%`;
            entry.cells.queue.querySelector(".depth").textContent = `${edge.depth} / ${edge.capacity}`;
            entry.cells.rate.textContent = format(edge.rate);
            entry.cells.passed.textContent = String(edge.dequeued);
            entry.cells.dropped.textContent = String(edge.dropped);
            entry.cells.overflow.textContent = edge.overflow;
            entry.row.classList.toggle("blocked", edge.blocked);
            entry.cells.status.replaceChildren(edge.blocked ? el("span", { class: "badge blocked", text: `blocked by ${edge.cause}` }) : "flowing");
          }
          const queue = this.figures && this.figures.edges.get(id);
          if (queue) {
            queue.textContent = `${edge.depth}/${edge.capacity}`;
            queue.classList.toggle("blocked", edge.blocked);
          }
          if (cy) {
            const element = cy.getElementById(id);
            if (element.nonempty()) {
              // (few distinct values: whole percents and widths, so Cytoscape's caches stay small)
              const rate = edge.rate || 0;
              element.data({
                fill: Math.round(fill * 100),
                width: Math.round(2 + Math.min(8, 2 * Math.log10(1 + rate))),
              });
              element.toggleClass("blocked", edge.blocked);
            }
          }
        }
      };
      if (cy) cy.batch(work);
      else work();
      this.pushSeries(frame.totals);
      if (this.selected && this.selected.kind === "edge" && this.pending === null) this.describeSelection();
      if (this.selected && this.selected.kind === "node" && Date.now() - (this.lineageAt || 0) > 2000) {
        this.showLineage(this.selected.id); // (every two seconds while a node is selected)
      }
    }

    pushSeries(totals) {
      const add = (name, value) => {
        const series = this.series[name];
        series.push(value ?? 0);
        if (series.length > SPARK_POINTS) series.shift();
        sparkline($(`spark-${name}`), series);
      };
      add("rate", totals.rate);
      add("p99", totals.p99 === null ? 0 : totals.p99 * 1000);
      add("errors", totals.errors);
      add("drops", totals.dropped);
      $("spark-rate-value").textContent = `${format(totals.rate)}/s`;
      $("spark-p99-value").textContent = format(totals.p99, "s");
      $("spark-errors-value").textContent = String(this.series.errors.reduce((a, b) => a + b, 0));
      $("spark-drops-value").textContent = String(this.series.drops.reduce((a, b) => a + b, 0));
    }

    // -- the event stream --------------------------------------------------------------------

    connect() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const query = state.token ? `?token=${encodeURIComponent(state.token)}` : "";
      const socket = new WebSocket(`${scheme}//${location.host}/ws${query}`);
      this.socket = socket;
      let opened = false;
      socket.addEventListener("open", () => {
        opened = true;
        this.retry = 0;
        socket.send(JSON.stringify({ event: "execution:subscribe", data: { executionId: this.id, view: true } }));
      });
      socket.addEventListener("message", (message) => {
        window.arachneDashboard.received += 1;
        let frame;
        try {
          frame = JSON.parse(message.data);
        } catch (_) {
          return;
        }
        this.receive(frame.event, frame.data || {});
      });
      socket.addEventListener("close", async () => {
        if (this.closed || this.gone || ["completed", "failed", "cancelled"].includes(this.state)) return;
        if (!opened) {
          // Refused before it opened: credentials gone stale, say (a 401 shows the sign-in).
          try {
            await whoami();
          } catch (error) {
            if (error.status === 401) return; // (the sign-in form is up; it reconnects after)
          }
        }
        this.retry = Math.min((this.retry || 0) + 1, 5);
        const wait = 2 ** this.retry; // 2, 4, 8, 16, then every 32 seconds
        this.log("stream", `the event stream closed; reconnecting in ${wait} s`, "error-event");
        setTimeout(() => {
          if (!this.closed && state.execution === this) this.connect();
        }, wait * 1000);
      });
    }

    receive(name, data) {
      if (data.executionId && data.executionId !== this.id) return;
      switch (name) {
        case "view:update":
          // (painted at the next frame: one paint however many frames came meanwhile)
          if (this.pendingFrame === null) {
            requestAnimationFrame(() => {
              const frame = this.pendingFrame;
              this.pendingFrame = null;
              if (this.closed || frame === null) return;
              this.checkShape(frame);
              this.paint(frame);
            });
          }
          this.pendingFrame = data;
          break;
        case "port:emit": {
          const more = data.coalesced ? ` (+${data.coalesced} more)` : "";
          this.log(name, `${data.edgeId} ${data.sourceNode}:${data.sourcePort} → ${data.targetNode}:${data.targetPort} value ${JSON.stringify(data.value)}${more}`);
          break;
        }
        case "component:invoked":
          this.log(name, `${data.nodeId}:${data.port} took ${data.count} message${data.count === 1 ? "" : "s"}`);
          break;
        case "execution:started":
        case "execution:paused":
        case "execution:resumed":
        case "execution:completed":
        case "execution:failed":
        case "execution:cancelled": {
          const now = name.split(":")[1];
          this.showState({ started: "running", resumed: "running" }[now] || now);
          const detail = data.error ? `: ${data.error.message}` : "";
          this.log(name, `${now}${detail}`, name === "execution:failed" ? "error-event" : "state-event");
          break;
        }
        case "metrics:update":
          break;
        case "stream:dropped":
          this.log(name, `${data.count} events dropped for this page (it read too slowly)`, "error-event");
          break;
        case "error":
          this.log(name, `${data.code}: ${data.message}`, "error-event");
          if (data.code === "not_found") {
            this.gone = true; // forgotten by the service: nothing more will come
            if (this.socket) this.socket.close();
          }
          break;
        default:
          break;
      }
    }

    // A frame naming nodes or edges the drawn graph lacks: the graph changed live; redraw it.
    checkShape(frame) {
      const links = Object.entries(frame.edges).filter(([, e]) => e.kind === "link").map(([id]) => id);
      const sameNodes = Object.keys(frame.nodes).length === this.graph.nodes.length && Object.keys(frame.nodes).every((id) => this.nodesById.has(id));
      const sameEdges = links.length === this.graph.edges.length && links.every((id) => this.edgesById.has(id));
      if ((!sameNodes || !sameEdges) && !this.reloading) {
        this.reloading = true;
        this.loadGraph().finally(() => {
          this.reloading = false;
        });
      }
    }

    // Lines gather and join the log once a frame: under a flood of events the page lays
    // itself out once per frame, not once per event, and keeps its last LOG_LINES lines.
    log(name, text, kind = "") {
      this.pendingLog.push([name, text, kind, new Date().toLocaleTimeString()]);
      if (this.pendingLog.length > LOG_LINES) this.pendingLog.splice(0, this.pendingLog.length - LOG_LINES);
      if (!this.logScheduled) {
        this.logScheduled = true;
        requestAnimationFrame(() => this.flushLog());
      }
    }

    flushLog() {
      this.logScheduled = false;
      if (this.closed) return;
      const list = $("log");
      const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      const lines = this.pendingLog.map(([name, text, kind, time]) => el("li", { class: kind, "data-event": name }, el("span", { class: "time", text: time }), text));
      this.pendingLog = [];
      list.append(...lines);
      let extra = list.childElementCount - LOG_LINES;
      while (extra > 0) {
        list.firstElementChild.remove();
        extra -= 1;
      }
      if (nearBottom) list.scrollTop = list.scrollHeight;
    }

    // -- control -----------------------------------------------------------------------------

    async control(action) {
      try {
        // (the state it answers may precede the change: the event stream tells when it is made)
        this.log(action, `${action} requested`, "state-event");
        await api("POST", this.path(`/${action}`));
      } catch (error) {
        notice(`${action} failed: ${error.message}`);
      }
    }

    fillInjectPorts() {
      const select = $("inject-port");
      const fed = new Set(this.graph.edges.map((edge) => `${edge.target.node}:${edge.target.port}`));
      const options = [];
      for (const node of this.graph.nodes) {
        for (const port of Object.keys(node.inputs || {})) {
          const key = `${node.id}:${port}`;
          options.push({ key, node: node.id, port, open: !fed.has(key) });
        }
      }
      options.sort((a, b) => Number(b.open) - Number(a.open));
      const previous = select.value;
      select.replaceChildren(...options.map((o) => el("option", { value: o.key, text: o.open ? o.key : `${o.key} (also fed by an edge)` })));
      if (options.some((o) => o.key === previous)) select.value = previous;
      this.showPortSchema();
    }

    portSchema() {
      const [nodeId, port] = splitPort($("inject-port").value);
      const node = this.nodesById && this.nodesById.get(nodeId);
      if (!node) return null;
      const definition = state.components && state.components[node.kind];
      const doc = definition && (definition.inputs || []).find((input) => input.name === port);
      return doc ? doc.schema : null;
    }

    showPortSchema() {
      const schema = this.portSchema();
      $("inject-schema").textContent = schema && Object.keys(schema).length ? `Schema: ${JSON.stringify(schema)}` : "Schema: any JSON value";
    }

    async inject() {
      const error = $("inject-error");
      error.textContent = "";
      const [nodeId, port] = splitPort($("inject-port").value);
      let value;
      try {
        value = JSON.parse($("inject-value").value);
      } catch (_) {
        error.textContent = "The value is not JSON: write 21, \"text\", {\"a\": 1} or null.";
        return;
      }
      const mismatch = checkType(this.portSchema(), value);
      if (mismatch) {
        error.textContent = mismatch;
        return;
      }
      try {
        await api("POST", this.path("/inject"), { nodeId, port, value });
        this.log("inject", `injected ${JSON.stringify(value)} into ${nodeId}:${port}`, "state-event");
      } catch (failure) {
        error.textContent = failure.message;
      }
    }

    // -- selection and live change ---------------------------------------------------------

    select(kind, id, fromTable = false) {
      this.selected = { kind, id };
      this.discard();
      $("change-error").textContent = "";
      for (const row of document.querySelectorAll("#nodes tr.selected, #edges tr.selected")) row.classList.remove("selected");
      const entry = kind === "node" ? this.rows.nodes.get(id) : this.rows.edges.get(id);
      if (entry) entry.row.classList.add("selected");
      if (this.cy) {
        this.cy.elements().unselect();
        this.cy.getElementById(id).select();
      }
      this.describeSelection(true);
      const box = $("selection").getBoundingClientRect();
      if (fromTable && (box.top < 0 || box.top > window.innerHeight - 80)) {
        $("selection").scrollIntoView({ block: "nearest" }); // (the editor, where the eye goes)
      }
    }

    clearSelection() {
      this.selected = null;
      this.pending = null;
      $("selection-none").hidden = false;
      $("edge-editor").hidden = true;
      $("node-editor").hidden = true;
      $("preview").hidden = true;
      $("change-error").textContent = "";
    }

    describeSelection(fresh = false) {
      const { kind, id } = this.selected;
      $("selection-none").hidden = true;
      $("edge-editor").hidden = kind !== "edge";
      $("node-editor").hidden = kind !== "node";
      if (kind === "edge") {
        const edge = this.edgesById.get(id);
        const live = this.frame && this.frame.edges[id];
        $("edge-name").textContent = `Edge ${id}`;
        $("edge-ends").textContent = edge ? `${edge.source.node}:${edge.source.port} → ${edge.target.node}:${edge.target.port}` + (live ? ` · ${live.depth}/${live.capacity} queued` : "") : "";
        if (fresh && edge) {
          // (the graph as just read, not a frame that may predate a commit)
          $("edge-capacity").value = edge.capacity;
          $("edge-overflow").value = edge.overflow;
        }
      } else if (fresh) {
        const node = this.nodesById.get(id);
        $("node-name").textContent = `Node ${id}`;
        $("node-component").textContent = node ? node.kind : "";
        $("node-config").value = node ? JSON.stringify(node.config, null, 2) : "{}";
        $("lineage-list").replaceChildren();
        $("lineage-note").textContent = "";
        this.showLineage(id);
      }
      applyRoles($("selection"));
    }

    // The inputs and nodes behind the selected node's latest outputs (GET .../query/lineage).
    async showLineage(id) {
      const asked = (this.lineageSeq = (this.lineageSeq || 0) + 1);
      this.lineageAt = Date.now();
      let answer;
      try {
        answer = await api("GET", this.path(`/query/lineage?node=${encodeURIComponent(id)}&last=5`));
      } catch (error) {
        if (asked !== this.lineageSeq || this.closed) return;
        $("lineage-list").replaceChildren();
        $("lineage-note").textContent = error.code === "lineage_off"
          ? "Lineage is off for this execution: execute its graph with “Record lineage” to see where each output came from."
          : error.message;
        return;
      }
      if (asked !== this.lineageSeq || this.closed) return;
      const origin = (o) => (o.kind === "inject" ? `inject ${o.value} at ${o.node}` : `${o.node} #${o.position}`);
      const items = answer.outputs.slice().reverse().map((output) =>
        el("li", { text: `${output.origins.map(origin).join(", ") || "(forgotten)"} → ${output.nodes.join(" → ")}${output.taints && output.taints.length ? ` [${output.taints.join(", ")}]` : ""}` }));
      $("lineage-list").replaceChildren(...items);
      $("lineage-note").textContent = items.length ? "Newest first." : "Nothing sampled has reached this node yet.";
    }

    async preview(event) {
      event.preventDefault();
      this.discard(); // (whatever was previewed before goes: only what is on screen is sent)
      const asked = this.previewSeq;
      $("change-error").textContent = "";
      const { kind, id } = this.selected;
      let path, body;
      if (kind === "edge") {
        path = this.path(`/edges/${encodeURIComponent(id)}`);
        body = { capacity: Number($("edge-capacity").value), overflow: $("edge-overflow").value };
      } else {
        let config;
        try {
          config = JSON.parse($("node-config").value);
        } catch (_) {
          $("change-error").textContent = "The config is not JSON.";
          return;
        }
        path = this.path(`/nodes/${encodeURIComponent(id)}`);
        body = { config };
      }
      try {
        const answer = await api("PATCH", `${path}?dryRun=true`, body);
        if (asked !== this.previewSeq || this.closed) return; // (edited or left meanwhile)
        this.pending = { path, body };
        $("preview-text").textContent = answer.text || "(no change)";
        $("preview").hidden = false;
        $("apply").dataset.busy = answer.text ? "0" : "1";
        applyRoles($("selection"));
      } catch (error) {
        if (asked === this.previewSeq) $("change-error").textContent = error.message;
      }
    }

    discard() {
      this.previewSeq += 1; // (an answer to an earlier preview, still on its way, is dropped)
      this.pending = null;
      $("preview").hidden = true;
    }

    async apply() {
      if (!this.pending) return;
      const { path, body } = this.pending;
      this.discard(); // (committed once, however many clicks)
      try {
        const answer = await api("PATCH", path, body);
        this.log("change", `committed: ${answer.text || "no change"}`, "state-event");
        await this.loadGraph();
        if (this.selected) this.describeSelection(true);
      } catch (error) {
        $("change-error").textContent = error.message;
      }
    }

    // -- dead letters ----------------------------------------------------------------------

    async refreshDeadLetters() {
      if (!this.hasDeadLetters || this.closed) return;
      let answer;
      try {
        answer = await api("GET", this.path("/dead-letters"));
      } catch (error) {
        if (error.status !== 401) $("dead-error").textContent = error.message;
        return;
      }
      const rows = answer.records.map((record) =>
        el(
          "tr",
          {},
          el("td", { class: "num", text: String(record.seq) }),
          el("td", { text: record.port ? `${record.nodeId}:${record.port}` : record.nodeId }),
          el("td", { text: `${record.errorType}: ${record.error}` }),
          el("td", { text: JSON.stringify(record.payload) }),
        ),
      );
      $("dead").tBodies[0].replaceChildren(...rows);
      $("dead-none").hidden = rows.length > 0;
      $("replay").hidden = rows.length === 0;
      this.deadSinks = answer.sinks || [];
    }

    async replay() {
      $("dead-error").textContent = "";
      try {
        let replayed = 0;
        for (const sink of this.deadSinks || []) {
          if (!sink.kept) continue;
          const answer = await api("POST", this.path("/dead-letters/replay"), { sink: sink.nodeId });
          replayed += answer.replayed;
        }
        this.log("replay", `replayed ${replayed} dead letter${replayed === 1 ? "" : "s"}`, "state-event");
      } catch (error) {
        $("dead-error").textContent = error.message;
      }
      await this.refreshDeadLetters();
    }
  }

  function splitPort(key) {
    const at = key.lastIndexOf(":");
    return [key.slice(0, at), key.slice(at + 1)];
  }

  // A first check of a value against its port's JSON Schema type (the service checks it whole).
  function checkType(schema, value) {
    if (!schema || !schema.type) return null;
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const kind = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
    const ok = types.some((type) => type === kind || (type === "integer" && Number.isInteger(value)) || (type === "number" && kind === "number"));
    return ok ? null : `The port takes ${types.join(" or ")}; this value is ${kind}.`;
  }

  function sparkline(svg, values) {
    const top = Math.max(1e-9, ...values);
    const step = 120 / Math.max(1, SPARK_POINTS - 1);
    const offset = 120 - step * (values.length - 1);
    const points = values.map((v, i) => `${(offset + i * step).toFixed(1)},${(29 - (v / top) * 27).toFixed(1)}`).join(" ");
    let line = svg.firstElementChild;
    if (!line) {
      line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      svg.append(line);
    }
    line.setAttribute("points", points);
  }

  function graphStyle() {
    return [
      {
        selector: "node",
        style: {
          shape: "round-rectangle",
          "background-color": "#ffffff",
          "border-width": 2,
          "border-color": "#57606a",
          label: "data(label)",
          "text-wrap": "wrap",
          "text-valign": "center",
          "text-halign": "center",
          "text-margin-y": -12, // (the live figures go below, in the overlay)
          "font-size": 10,
          color: "#1b1f24",
          width: 150,
          height: 62,
        },
      },
      { selector: "node.group", style: { shape: "round-rectangle", "background-color": "#f6f8fa", "border-style": "dashed", "border-color": "#8c959f", "text-valign": "top", "text-margin-y": 0, "font-weight": "bold", padding: 14 } },
      { selector: "node.failing", style: { "border-color": "#c62828" } },
      { selector: "node.cause", style: { "border-color": "#b35900", "border-width": 6, "background-color": "#fff1e0" } },
      { selector: "node:selected", style: { "overlay-color": "#0a58ca", "overlay-opacity": 0.15 } },
      {
        selector: "edge",
        style: {
          "curve-style": "bezier",
          "target-arrow-shape": "triangle",
          "target-arrow-color": "#8c959f",
          width: "data(width)",
          "line-fill": "linear-gradient",
          "line-gradient-stop-colors": "#1f6feb #1f6feb #c8ccd1 #c8ccd1",
          "line-gradient-stop-positions": (edge) => {
            const fill = edge.data("fill") || 0;
            return `0% ${fill}% ${fill}% 100%`;
          },
        },
      },
      { selector: "edge.blocked", style: { "line-gradient-stop-colors": "#c62828 #c62828 #f2b8b5 #f2b8b5", "target-arrow-color": "#c62828" } },
      { selector: "edge:selected", style: { "overlay-color": "#0a58ca", "overlay-opacity": 0.2 } },
    ];
  }

  // -- wiring ------------------------------------------------------------------------------------

  const current = () => state.execution;
  $("pause").addEventListener("click", () => current() && current().control("pause"));
  $("resume").addEventListener("click", () => current() && current().control("resume"));
  $("stop").addEventListener("click", () => current() && current().control("stop"));
  $("inject-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (current()) current().inject();
  });
  $("inject-port").addEventListener("change", () => current() && current().showPortSchema());
  $("edge-form").addEventListener("submit", (event) => current() && current().preview(event));
  $("node-form").addEventListener("submit", (event) => current() && current().preview(event));
  $("apply").addEventListener("click", () => current() && current().apply());
  $("discard").addEventListener("click", () => current() && current().discard());
  for (const field of ["edge-capacity", "edge-overflow", "node-config"]) {
    $(field).addEventListener("input", () => current() && current().discard()); // (edited: preview again)
  }
  $("zoom-fit").addEventListener("click", () => {
    const page = current();
    if (page && page.cy) {
      page.userMoved = false;
      page.cy.fit(undefined, 20);
    }
  });
  $("zoom-in").addEventListener("click", () => current() && current().zoom(1.25));
  $("zoom-out").addEventListener("click", () => current() && current().zoom(0.8));
  $("replay").addEventListener("click", () => current() && current().replay());

  // For tests and for the curious: the page's state, read-only by convention.
  window.arachneDashboard = { state, cy: null, frames: 0, layouts: 0, refreshes: 0, received: 0 };

  if (window.cytoscape && window.cytoscapeDagre && !window.cytoscape.prototype?.dagre) {
    try {
      window.cytoscape.use(window.cytoscapeDagre);
    } catch (_) {
      // registered already by the extension's own script
    }
  }
  route();
})();
