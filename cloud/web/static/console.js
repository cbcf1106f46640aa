/* 守望 Shouwang — the console of supervisors and admins: incidents by state and
 * age, escalations, KPIs, gateway health, a home's charts and privacy choices,
 * and for admins the registry and the audit log. Registers through
 * window.ShouwangViews (see "extra views" in app.js). Charts are inline SVG built
 * with createElementNS: the CSP allows no inline style, and there is no library. */
(window.ShouwangViews = window.ShouwangViews || []).push(function (sw) {
  'use strict';

  var h = sw.h;
  function t(k, v) { return sw.t(k, v); }

  sw.strings({
    'zh-CN': {
      c_tab: '管理台',
      c_nav: '管理台栏目',
      c_sec_overview: '事件',
      c_sec_kpis: '指标',
      c_sec_gateways: '网关',
      c_sec_registry: '登记',
      c_sec_duty: '值班',
      c_dutyTitle: '本社区网格员值班',
      c_dutyNone: '本社区还没有网格员',
      c_sec_audit: '审计',
      c_refresh: '刷新',
      c_loading: '正在加载…',
      c_errLoad: '加载失败（{status}），请点“刷新”重试',
      c_forbidden: '你的角色无权查看此项',
      c_prev: '‹ 上一页',
      c_next: '下一页 ›',
      c_pageOf: '第 {from}–{to} 条',
      c_overviewTitle: '事件总览',
      c_filter: '按状态筛选',
      c_f_open: '未结事件',
      c_f_all: '全部（最近 200 个）',
      c_countsLabel: '未结事件按状态',
      c_agesLabel: '未结事件按时长',
      c_age_u1h: '1 小时内',
      c_age_1to24: '1–24 小时',
      c_age_o24: '超过 24 小时',
      c_none: '没有符合条件的事件',
      c_more: '仅统计最近变动的 200 件；更早的请按状态筛选或通过 API 分页查看',
      c_age: '已 {dur}',
      c_openedAt: '{time} 发现',
      c_escStep: '已升级到第 {n} 步',
      c_escTitle: '升级记录（近 7 天）',
      c_escNone: '近 7 天没有升级',
      c_escLine: '第 {n} 步 · {target}：{worker}',
      c_escState: '现状：{state}',
      c_kpiTitle: '服务指标',
      c_days: '统计时段',
      c_daysN: '近 {n} 天',
      c_byGrid: '按网格',
      c_byRule: '按规则',
      c_kpiNone: '所选时段内没有事件',
      c_times: '用时中位数（分钟）',
      c_s_accept: '接单',
      c_s_onsite: '到场',
      c_s_resolve: '处理完成',
      c_falseRatio: '误报率（占已处理）',
      c_openByAge: '未结事件按时长',
      c_min: '{n} 分',
      c_kpiTable: '明细',
      c_k_incidents: '事件',
      c_k_accepted: '已接单',
      c_k_resolved: '已处理',
      c_k_accept: '接单 P50/P90',
      c_k_onsite: '到场 P50',
      c_k_resolve: '处理 P50/P90',
      c_k_false: '误报',
      c_k_open: '未结',
      c_k_rating: '评价',
      c_gwTitle: '网关与设备',
      c_gwSummary: '本页 {n} 个网关：在线 {on}，离线 {off}，有未恢复故障 {faults}',
      c_gwNone: '没有网关',
      c_online: '在线',
      c_offlineB: '离线',
      c_revoked: '已停用',
      c_lastSeen: '最后上报 {time}（{dur}前）',
      c_neverSeen: '从未上报',
      c_offlineSince: '{time} 起离线',
      c_unbound: '未绑定住户',
      c_grid: '网格 {id}',
      c_faults: '未恢复故障：{list}',
      c_noFaults: '无未恢复故障',
      c_homeTitle: '住户 {id}',
      c_hours: '图表时段',
      c_hoursN: '近 {n} 小时',
      c_water: '用水量（升）',
      c_power: '用电量（千瓦时）',
      c_count: '活动次数',
      c_noChart: '看不到图表：老人的隐私设置未允许你的角色查看，或该户没有网关',
      c_noData: '这段时间没有数据',
      c_chartRange: '{from} 至 {to}，最高 {max}',
      c_privacyTitle: '隐私设置（谁能看到什么）',
      c_privacyRO: '只有管理员和老人本人可以修改',
      c_save: '保存',
      c_saved: '已保存',
      c_saveFailed: '保存失败：{msg}',
      c_pk_anomaly_alerts: '异常告警',
      c_pk_charts: '用水用电图表',
      c_pk_timeline: '活动时间线',
      c_pk_medical: '病历备注',
      c_pk_contacts: '联系人',
      c_r_admin: '管理员',
      c_r_supervisor: '社区负责人',
      c_r_worker: '网格员',
      c_r_technician: '技术员',
      c_r_family: '家属',
      c_r_resident: '老人本人',
      c_homeAudit: '查看此户的审计记录',
      c_regTitle: '登记管理',
      c_reg_grids: '网格',
      c_reg_workers: '网格员',
      c_reg_homes: '住户',
      c_reg_residents: '老人',
      c_regKinds: '登记类别',
      c_importTitle: '导入登记表（CSV）',
      c_importFile: '选择 CSV 文件',
      c_importSubmit: '导入',
      c_importing: '正在导入…',
      c_importNoFile: '请先选择 CSV 文件',
      c_importBad: '未导入：{file} 有 {n} 处错误，请改正后重新导入',
      c_importLine: '第 {line} 行',
      c_importCol: '，列 {col}',
      c_importMore: '另有 {n} 处错误未列出',
      c_importOk: '已导入 {file}：网格 {grids}，网格员 {workers}，住户 {homes}，老人 {residents}，紧急联系人 {contacts}，家属 {family}',
      c_importFail: '导入失败（{status}）：{msg}',
      c_export: '导出登记表（CSV）',
      c_onDuty: '值班中',
      c_offDuty: '未值班',
      c_dutyLabel: '{name} 值班：{state}，点按切换',
      c_role_worker: '网格员',
      c_role_backup: '备班',
      c_role_supervisor: '社区负责人',
      c_role_technician: '技术员',
      c_community: '社区：{c}',
      c_gateway: '网关 {id}',
      c_noGateway: '未装网关',
      c_sensors: '{n} 个传感器',
      c_contacts: '{n} 位紧急联系人',
      c_home: '住户 {id}',
      c_auditTitle: '审计日志',
      c_auditHome: '按住户筛选',
      c_auditFilter: '筛选',
      c_auditAll: '全部',
      c_verified: '✓ 审计链校验通过（共 {n} 条，未发现删改）',
      c_notVerified: '✗ 审计链校验未通过：{problem}',
      c_auditNone: '没有审计记录',
      c_auditShown: '最近 {n} 条'
    },
    en: {
      c_tab: 'Console',
      c_nav: 'Console sections',
      c_sec_overview: 'Incidents',
      c_sec_kpis: 'KPIs',
      c_sec_gateways: 'Gateways',
      c_sec_registry: 'Registry',
      c_sec_duty: 'Duty',
      c_dutyTitle: 'Who is on duty in the community',
      c_dutyNone: 'No workers in this community yet',
      c_sec_audit: 'Audit',
      c_refresh: 'Refresh',
      c_loading: 'Loading…',
      c_errLoad: 'Could not load ({status}); tap Refresh to retry',
      c_forbidden: 'Your role may not see this',
      c_prev: '‹ Previous',
      c_next: 'Next ›',
      c_pageOf: 'Items {from}–{to}',
      c_overviewTitle: 'Incidents overview',
      c_filter: 'Filter by state',
      c_f_open: 'Open incidents',
      c_f_all: 'All (latest 200)',
      c_countsLabel: 'Open incidents by state',
      c_agesLabel: 'Open incidents by age',
      c_age_u1h: 'Under 1 h',
      c_age_1to24: '1–24 h',
      c_age_o24: 'Over 24 h',
      c_none: 'No incidents match',
      c_more: 'Counting only the 200 most recently changed; page through the API for older ones',
      c_age: 'open {dur}',
      c_openedAt: 'opened {time}',
      c_escStep: 'escalated to step {n}',
      c_escTitle: 'Escalations (last 7 days)',
      c_escNone: 'No escalations in the last 7 days',
      c_escLine: 'Step {n} · {target}: {worker}',
      c_escState: 'Now: {state}',
      c_kpiTitle: 'Service KPIs',
      c_days: 'Period',
      c_daysN: 'Last {n} days',
      c_byGrid: 'By grid',
      c_byRule: 'By rule',
      c_kpiNone: 'No incidents in this period',
      c_times: 'Median time (minutes)',
      c_s_accept: 'Accept',
      c_s_onsite: 'On site',
      c_s_resolve: 'Resolve',
      c_falseRatio: 'False alarms (of resolved)',
      c_openByAge: 'Open incidents by age',
      c_min: '{n} min',
      c_kpiTable: 'Details',
      c_k_incidents: 'Incidents',
      c_k_accepted: 'Accepted',
      c_k_resolved: 'Resolved',
      c_k_accept: 'Accept P50/P90',
      c_k_onsite: 'On site P50',
      c_k_resolve: 'Resolve P50/P90',
      c_k_false: 'False alarms',
      c_k_open: 'Open',
      c_k_rating: 'Rating',
      c_gwTitle: 'Gateways and devices',
      c_gwSummary: '{n} gateways on this page: {on} online, {off} offline, {faults} with open faults',
      c_gwNone: 'No gateways',
      c_online: 'Online',
      c_offlineB: 'Offline',
      c_revoked: 'Revoked',
      c_lastSeen: 'Last report {time} ({dur} ago)',
      c_neverSeen: 'Never reported',
      c_offlineSince: 'Offline since {time}',
      c_unbound: 'Not bound to a home',
      c_grid: 'Grid {id}',
      c_faults: 'Open faults: {list}',
      c_noFaults: 'No open faults',
      c_homeTitle: 'Home {id}',
      c_hours: 'Chart period',
      c_hoursN: 'Last {n} hours',
      c_water: 'Water use (litres)',
      c_power: 'Electricity use (kWh)',
      c_count: 'Activity count',
      c_noChart: 'No charts: the resident’s privacy choice does not include your role, or the home has no gateway',
      c_noData: 'No data in this period',
      c_chartRange: '{from} to {to}, highest {max}',
      c_privacyTitle: 'Privacy (who sees what)',
      c_privacyRO: 'Only an admin and the resident can change these',
      c_save: 'Save',
      c_saved: 'Saved',
      c_saveFailed: 'Not saved: {msg}',
      c_pk_anomaly_alerts: 'Anomaly alerts',
      c_pk_charts: 'Water and power charts',
      c_pk_timeline: 'Activity timeline',
      c_pk_medical: 'Medical notes',
      c_pk_contacts: 'Contacts',
      c_r_admin: 'Admin',
      c_r_supervisor: 'Supervisor',
      c_r_worker: 'Grid worker',
      c_r_technician: 'Technician',
      c_r_family: 'Family',
      c_r_resident: 'Resident',
      c_homeAudit: 'Audit trail of this home',
      c_regTitle: 'Registry',
      c_reg_grids: 'Grids',
      c_reg_workers: 'Workers',
      c_reg_homes: 'Homes',
      c_reg_residents: 'Residents',
      c_regKinds: 'Registry lists',
      c_importTitle: 'Import the registry (CSV)',
      c_importFile: 'Choose a CSV file',
      c_importSubmit: 'Import',
      c_importing: 'Importing…',
      c_importNoFile: 'Choose a CSV file first',
      c_importBad: 'Nothing imported: {file} has {n} error(s); fix them and import again',
      c_importLine: 'Line {line}',
      c_importCol: ', column {col}',
      c_importMore: '{n} more error(s) not listed',
      c_importOk: 'Imported {file}: {grids} grids, {workers} workers, {homes} homes, {residents} residents, {contacts} emergency contacts, {family} family members',
      c_importFail: 'Import failed ({status}): {msg}',
      c_export: 'Export the registry (CSV)',
      c_onDuty: 'On duty',
      c_offDuty: 'Off duty',
      c_dutyLabel: '{name} on duty: {state}; tap to switch',
      c_role_worker: 'Grid worker',
      c_role_backup: 'Backup',
      c_role_supervisor: 'Supervisor',
      c_role_technician: 'Technician',
      c_community: 'Community: {c}',
      c_gateway: 'Gateway {id}',
      c_noGateway: 'No gateway',
      c_sensors: '{n} sensors',
      c_contacts: '{n} emergency contacts',
      c_home: 'Home {id}',
      c_auditTitle: 'Audit log',
      c_auditHome: 'Filter by home',
      c_auditFilter: 'Filter',
      c_auditAll: 'All',
      c_verified: '✓ Audit chain verified ({n} entries, nothing removed or altered)',
      c_notVerified: '✗ Audit chain does not verify: {problem}',
      c_auditNone: 'No audit entries',
      c_auditShown: 'Latest {n} entries'
    }
  });

  var STAFF = ['supervisor', 'admin'];
  var SECTIONS = [
    { key: 'overview', roles: STAFF },
    { key: 'kpis', roles: STAFF },
    { key: 'gateways', roles: STAFF },
    { key: 'duty', roles: ['supervisor'] },
    { key: 'registry', roles: ['admin'] },
    { key: 'audit', roles: ['admin'] },
    { key: 'home', roles: STAFF, hidden: true }
  ];
  var OPEN = ['discovered', 'dispatched', 'accepted', 'on_site'];
  var STATES = OPEN.concat(['resolved', 'feedback', 'evaluated']);
  var UNACCEPTED = { discovered: true, dispatched: true };
  var PRIVACY_KINDS = ['anomaly_alerts', 'charts', 'timeline', 'medical', 'contacts'];
  var ROLES = ['admin', 'supervisor', 'worker', 'technician', 'family', 'resident'];
  var PAGE = 20;

  // ------------------------------------------------------------ data

  // Answers by request path, so a redraw (a language switch, a live event, the
  // clock) does not ask again. A stale entry is shown while it is fetched anew.
  var cache = {};
  var cacheGen = -1;

  function get(path) {
    if (cacheGen !== sw.gen()) { // another login: nothing of the last one stays
      cache = {};
      cacheGen = sw.gen();
      ui.importReport = null;
    }
    var c = cache[path];
    if (c && !c.stale) return c;
    if (c && c.loading) return c;
    c = cache[path] = { loading: true, status: c ? c.status : 0, body: c ? c.body : null };
    var gen = sw.gen();
    sw.api('GET', path).then(function (r) {
      if (gen !== sw.gen()) return;
      cache[path] = { status: r.status, body: r.body };
      fill();
    }, function () {
      if (gen !== sw.gen()) return;
      cache[path] = { status: 0, body: null };
      fill();
    });
    return c;
  }

  // stale marks cached answers whose path matches re for fetching again.
  function stale(re) {
    Object.keys(cache).forEach(function (p) { if (!re || re.test(p)) cache[p].stale = true; });
  }

  // problem is what to show instead of an answer still loading or refused; null
  // when there is one to draw.
  function problem(c) {
    if (c.body && c.status === 200) return null;
    if (c.loading) return h('p', { class: 'notice c-loading', text: t('c_loading') });
    if (c.status === 403) return h('p', { class: 'c-error', text: t('c_forbidden') });
    return h('p', { class: 'c-error', role: 'alert', text: t('c_errLoad', { status: c.status || '—' }) });
  }

  // ------------------------------------------------------------ shell

  var ui = { filter: 'open', days: 30, hours: 48, reg: 'homes', regOffset: 0, dutyOffset: 0, gwOffset: 0, importReport: null };
  var el = null;
  var shell = null; // {root, body, section, arg}

  function role() { var u = sw.user(); return u ? u.role : ''; }

  function allowed(key) {
    for (var i = 0; i < SECTIONS.length; i++) {
      if (SECTIONS[i].key === key) return SECTIONS[i].roles.indexOf(role()) >= 0;
    }
    return false;
  }

  function render(target, params) {
    el = target;
    var section = params[0] || 'overview';
    if (!allowed(section)) section = 'overview';
    build(section, params[1] || '');
  }

  // build lays out the section: its tabs, its controls (kept across redraws, so
  // a chosen file or a focused select survives a live update) and its body.
  function build(section, arg) {
    el.textContent = '';
    var body = h('div', { class: 'c-body' });
    var root = h('div', { class: 'console', dataset: { section: section } }, sectionNav(section));
    shell = { root: root, body: body, section: section, arg: arg };
    var controls = CONTROLS[section] ? CONTROLS[section](arg) : null;
    if (controls) root.appendChild(controls);
    root.appendChild(body);
    el.appendChild(root);
    fill();
  }

  // fill draws the body again from what is cached (fetching what is missing).
  function fill() {
    if (!shell || !el || shell.root.parentNode !== el || el.hidden) return;
    var body = h('div', { class: 'c-body' });
    DRAW[shell.section](body, shell.arg);
    shell.root.replaceChild(body, shell.body);
    shell.body = body;
  }

  function sectionNav(current) {
    var nav = h('nav', { class: 'c-nav', 'aria-label': t('c_nav') });
    SECTIONS.forEach(function (s) {
      if (s.hidden || s.roles.indexOf(role()) < 0) return;
      nav.appendChild(h('a', {
        class: 'tab c-tab', href: '#console/' + s.key, dataset: { section: s.key },
        'aria-current': s.key === current ? 'page' : null, text: t('c_sec_' + s.key)
      }));
    });
    var refresh = h('button', { type: 'button', class: 'c-refresh tool-btn', text: t('c_refresh') });
    refresh.addEventListener('click', function () { stale(null); fill(); });
    nav.appendChild(refresh);
    return nav;
  }

  function select(id, label, value, options, onChange) {
    var s = h('select', { id: id, class: 'c-select' });
    options.forEach(function (o) {
      s.appendChild(h('option', { value: String(o[0]), selected: String(o[0]) === String(value), text: o[1] }));
    });
    s.addEventListener('change', function () { onChange(s.value); fill(); });
    return h('div', { class: 'c-field' }, h('label', { for: id, text: label }), s);
  }

  function pager(offset, n, limit, go) {
    if (!offset && n < limit) return null;
    var prev = h('button', { type: 'button', class: 'tool-btn c-prev', disabled: offset === 0, text: t('c_prev') });
    var next = h('button', { type: 'button', class: 'tool-btn c-next', disabled: n < limit, text: t('c_next') });
    prev.addEventListener('click', function () { go(Math.max(0, offset - limit)); fill(); });
    next.addEventListener('click', function () { go(offset + limit); fill(); });
    return h('div', { class: 'c-pager' }, prev, h('span', { text: t('c_pageOf', { from: offset + 1, to: offset + n }) }), next);
  }

  function ago(iso) {
    var d = iso ? new Date(iso) : null;
    return d && !isNaN(d.getTime()) ? Math.max(0, (Date.now() - d.getTime()) / 1000) : null;
  }

  function stateBadge(st) {
    return h('span', { class: 'badge badge-state state-' + st, dataset: { state: st }, text: sw.stateName(st) });
  }

  function causes(inc) {
    var rules = Array.isArray(inc.rules) && inc.rules.length ? inc.rules : [inc.class];
    return rules.map(sw.ruleName).join(t('listSep'));
  }

  function homeLink(id, text) {
    return h('a', { class: 'c-home-link', href: '#console/home/' + encodeURIComponent(id), text: text || t('c_home', { id: id }) });
  }

  // ------------------------------------------------------------ charts

  var SVGNS = 'http://www.w3.org/2000/svg';

  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Labels are cut so no text runs past the chart's right edge on a phone.
  function clip(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + '…' : s; }

  function legend(series) {
    if (series.length < 2) return null;
    var ul = h('ul', { class: 'c-legend' });
    series.forEach(function (s, j) {
      ul.appendChild(h('li', null, h('span', { class: 'c-swatch c-s' + j, 'aria-hidden': 'true' }), s));
    });
    return ul;
  }

  // hbars: one horizontal bar per row and series — or, stacked, one bar of
  // segments per row — with the row's label above and the value after the bar.
  function hbars(title, rows, series, stacked, fmt, caption) {
    var W = 320, LABEL = 15, BAR = 11, GAP = 2, ROWGAP = 9, PLOT = 236;
    var per = LABEL + (stacked ? BAR : series.length * (BAR + GAP)) + ROWGAP;
    var max = 0;
    rows.forEach(function (r) {
      var sum = 0;
      r.values.forEach(function (v) { sum += v; max = Math.max(max, v); });
      if (stacked) max = Math.max(max, sum);
    });
    max = max || 1;
    var s = svg('svg', { class: 'c-chart', viewBox: '0 0 ' + W + ' ' + rows.length * per, role: 'img', 'aria-label': title });
    rows.forEach(function (r, i) {
      var y = i * per;
      s.appendChild(svg('text', { x: 0, y: y + 11, class: 'c-chart-label' }, clip(r.label, 22)));
      var x = 0;
      r.values.forEach(function (v, j) {
        var w = Math.max(v > 0 ? 1 : 0, v / max * PLOT);
        var by = y + LABEL + (stacked ? 0 : j * (BAR + GAP));
        s.appendChild(svg('rect', { x: stacked ? x : 0, y: by, width: w, height: BAR, class: 'c-bar c-s' + j }));
        if (stacked) x += w;
        else s.appendChild(svg('text', { x: w + 4, y: by + BAR - 2, class: 'c-chart-value' }, fmt(v)));
      });
      if (stacked) {
        var sum = r.values.reduce(function (a, b) { return a + b; }, 0);
        s.appendChild(svg('text', { x: x + 4, y: y + LABEL + BAR - 2, class: 'c-chart-value' }, fmt(sum)));
      }
    });
    return h('figure', { class: 'c-figure' }, h('figcaption', { text: caption || title }), s, legend(series));
  }

  // vbars: a time series as columns, the highest value and the range in words.
  function vbars(title, points, fmt) {
    var W = 320, H = 120, max = 0;
    points.forEach(function (p) { max = Math.max(max, p.v); });
    var s = svg('svg', { class: 'c-chart c-vchart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': title });
    s.appendChild(svg('line', { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: 'c-axis' }));
    var step = W / points.length;
    points.forEach(function (p, i) {
      var hgt = max ? p.v / max * (H - 4) : 0;
      s.appendChild(svg('rect', { x: i * step + step * 0.1, y: H - hgt, width: Math.max(step * 0.8, 0.5), height: hgt, class: 'c-bar c-s0' }));
    });
    var range = t('c_chartRange', { from: sw.formatTime(points[0].t), to: sw.formatTime(points[points.length - 1].t), max: fmt(max) });
    return h('figure', { class: 'c-figure' }, h('figcaption', { text: title }), s, h('p', { class: 'c-chart-range', text: range }));
  }

  function minutes(sec) {
    var m = Math.round(sec / 60);
    return t('c_min', { n: m });
  }

  function percent(r) { return Math.round(r * 100) + '%'; }

  // ------------------------------------------------------------ sections

  var CONTROLS = {
    overview: function () {
      var opts = [['open', t('c_f_open')], ['all', t('c_f_all')]].concat(STATES.map(function (s) { return [s, sw.stateName(s)]; }));
      return h('div', { class: 'c-controls' }, select('c-state-filter', t('c_filter'), ui.filter, opts, function (v) { ui.filter = v; }));
    },
    kpis: function () {
      var opts = [7, 30, 90, 365].map(function (n) { return [n, t('c_daysN', { n: n })]; });
      return h('div', { class: 'c-controls' }, select('c-days', t('c_days'), ui.days, opts, function (v) { ui.days = Number(v); }));
    },
    home: function () {
      var opts = [24, 48, 168].map(function (n) { return [n, t('c_hoursN', { n: n })]; });
      return h('div', { class: 'c-controls' }, select('c-hours', t('c_hours'), ui.hours, opts, function (v) { ui.hours = Number(v); }));
    },
    registry: function () { return registryControls(); },
    audit: function (home) { return auditControls(home); }
  };

  var DRAW = {
    overview: drawOverview,
    kpis: drawKPIs,
    gateways: drawGateways,
    home: drawHome,
    registry: drawRegistry,
    duty: drawDuty,
    audit: drawAudit
  };

  // Unaccepted first (they are the ones escalating), then the oldest.
  function byUrgency(a, b) {
    var ua = UNACCEPTED[a.state] ? 0 : (OPEN.indexOf(a.state) >= 0 ? 1 : 2);
    var ub = UNACCEPTED[b.state] ? 0 : (OPEN.indexOf(b.state) >= 0 ? 1 : 2);
    if (ua !== ub) return ua - ub;
    return new Date(a.opened_at).getTime() - new Date(b.opened_at).getTime();
  }

  function drawOverview(body) {
    body.appendChild(h('h2', { text: t('c_overviewTitle') }));
    var open = get('/api/v1/incidents?open=1');
    var p = problem(open);
    if (p) { body.appendChild(p); return; }
    var openList = open.body.incidents || [];
    // The API pages; the overview reads one page and says so rather than undercount.
    var truncated = !!open.body.next;

    var counts = h('ul', { class: 'c-counts', 'aria-label': t('c_countsLabel') });
    OPEN.forEach(function (st) {
      var n = openList.filter(function (i) { return i.state === st; }).length;
      var b = h('button', { type: 'button', class: 'c-count', dataset: { state: st }, 'aria-pressed': ui.filter === st ? 'true' : 'false' },
        h('span', { class: 'c-count-n', text: String(n) }), ' ', sw.stateName(st));
      b.addEventListener('click', function () { ui.filter = ui.filter === st ? 'open' : st; build('overview', ''); });
      counts.appendChild(h('li', null, b));
    });
    body.appendChild(counts);
    var ages = [0, 0, 0];
    openList.forEach(function (i) {
      var s = ago(i.opened_at) || 0;
      ages[s < 3600 ? 0 : (s < 86400 ? 1 : 2)]++;
    });
    body.appendChild(h('p', { class: 'c-ages', 'aria-label': t('c_agesLabel') },
      t('c_age_u1h') + ' ' + ages[0] + ' · ' + t('c_age_1to24') + ' ' + ages[1] + ' · ' + t('c_age_o24') + ' ' + ages[2]));

    var list = openList;
    if (ui.filter !== 'open' && OPEN.indexOf(ui.filter) < 0) {
      var all = get('/api/v1/incidents');
      p = problem(all);
      if (p) { body.appendChild(p); list = []; } else list = all.body.incidents || [];
    }
    if (ui.filter !== 'open' && ui.filter !== 'all') list = list.filter(function (i) { return i.state === ui.filter; });
    list = list.slice().sort(byUrgency);
    if (!list.length) body.appendChild(h('p', { class: 'alerts-empty c-empty', text: t('c_none') }));
    if (truncated || (all && all.body && all.body.next)) body.appendChild(h('p', { class: 'c-more', role: 'note', text: t('c_more') }));
    var ol = h('ol', { class: 'c-incidents' });
    list.forEach(function (inc) { ol.appendChild(incidentRow(inc)); });
    body.appendChild(ol);
    drawEscalations(body);
  }

  function incidentRow(inc) {
    var secs = ago(inc.opened_at);
    var age = OPEN.indexOf(inc.state) < 0 ? t('c_openedAt', { time: sw.formatTime(inc.opened_at) })
      : t('c_age', { dur: sw.formatDuration(secs) });
    var as = inc.assignee;
    return h('li', { class: 'c-inc sev-' + (inc.severity || 'info'), dataset: { incidentId: inc.id, state: inc.state } },
      h('div', { class: 'c-row-head' },
        h('a', { class: 'c-inc-link', href: '#incident/' + encodeURIComponent(inc.id), text: causes(inc) }),
        stateBadge(inc.state)),
      h('p', { class: 'c-who' }, (inc.resident || '') + (inc.resident && inc.address ? ' · ' : '') + (inc.address || '')),
      h('p', { class: 'c-meta' },
        h('span', { class: 'c-age', dataset: { ageS: String(Math.round(secs || 0)) }, text: age }), ' · ',
        h('span', { class: 'c-assignee', text: as && as.name ? as.name : t('unassigned') }),
        inc.step > 1 ? h('span', { class: 'c-escalated', text: ' · ' + t('c_escStep', { n: inc.step }) }) : null,
        inc.inhibited ? h('span', { class: 'c-inhibited', text: ' · ' + t('inhibited') }) : null));
  }

  function drawEscalations(body) {
    body.appendChild(h('h3', { class: 'c-h3', text: t('c_escTitle') }));
    var esc = get('/api/v1/escalations?days=7');
    var p = problem(esc);
    if (p) { body.appendChild(p); return; }
    var list = esc.body.escalations || [];
    if (!list.length) { body.appendChild(h('p', { class: 'c-empty', text: t('c_escNone') })); return; }
    var ol = h('ol', { class: 'c-escalations' });
    list.forEach(function (e) {
      ol.appendChild(h('li', { class: 'c-esc', dataset: { incidentId: e.incident_id, step: String(e.step) } },
        h('div', { class: 'c-row-head' },
          h('a', { class: 'c-inc-link', href: '#incident/' + encodeURIComponent(e.incident_id),
            text: t('c_escLine', { n: e.step, target: e.target ? t('tgt_' + e.target) : '?', worker: e.worker.name || e.worker.id }) }),
          h('span', { class: 'c-time', text: sw.formatTime(e.at) })),
        h('p', { class: 'c-who' }, (e.resident || '') + (e.resident && e.address ? ' · ' : '') + (e.address || '')),
        h('p', { class: 'c-meta', text: t('c_escState', { state: sw.stateName(e.state) }) })));
    });
    body.appendChild(ol);
  }

  function drawKPIs(body) {
    body.appendChild(h('h2', { text: t('c_kpiTitle') }));
    var k = get('/api/v1/kpis?days=' + ui.days);
    var p = problem(k);
    if (p) { body.appendChild(p); return; }
    var groups = [
      { title: t('c_byGrid'), list: k.body.grids || [], label: function (x) { return x.name || x.key; } },
      { title: t('c_byRule'), list: k.body.rules || [], label: function (x) { return sw.ruleName(x.key); } }
    ];
    if (!groups[0].list.length) { body.appendChild(h('p', { class: 'c-empty', text: t('c_kpiNone') })); return; }
    groups.forEach(function (g, gi) {
      var sec = h('section', { class: 'c-kpi-group', dataset: { group: gi ? 'rules' : 'grids' } }, h('h3', { class: 'c-h3', text: g.title }));
      sec.appendChild(hbars(g.title + ' · ' + t('c_times'), g.list.map(function (x) {
        return { label: g.label(x), values: [x.accept_p50_s / 60, x.on_site_p50_s / 60, x.resolve_p50_s / 60] };
      }), [t('c_s_accept'), t('c_s_onsite'), t('c_s_resolve')], false, function (v) { return minutes(v * 60); }, t('c_times')));
      sec.appendChild(hbars(g.title + ' · ' + t('c_falseRatio'), g.list.map(function (x) {
        return { label: g.label(x), values: [x.false_alarm_ratio] };
      }), [t('c_falseRatio')], false, percent, t('c_falseRatio')));
      sec.appendChild(hbars(g.title + ' · ' + t('c_openByAge'), g.list.map(function (x) {
        return { label: g.label(x), values: [x.open_under_1h, x.open_1h_to_24h, x.open_over_24h] };
      }), [t('c_age_u1h'), t('c_age_1to24'), t('c_age_o24')], true, String, t('c_openByAge')));
      sec.appendChild(kpiTable(g));
      body.appendChild(sec);
    });
  }

  // kpiTable gives the figures behind the charts, one card per grid or rule (a
  // wide table would not fit a phone).
  function kpiTable(g) {
    var list = h('ul', { class: 'c-rows c-kpi-cards' });
    g.list.forEach(function (x) {
      var pairs = [
        ['c_k_incidents', x.incidents], ['c_k_accepted', x.accepted], ['c_k_resolved', x.resolved],
        ['c_k_accept', minutes(x.accept_p50_s) + ' / ' + minutes(x.accept_p90_s)], ['c_k_onsite', minutes(x.on_site_p50_s)],
        ['c_k_resolve', minutes(x.resolve_p50_s) + ' / ' + minutes(x.resolve_p90_s)],
        ['c_k_false', x.false_alarms + ' (' + percent(x.false_alarm_ratio) + ')'],
        ['c_k_open', x.open_under_1h + x.open_1h_to_24h + x.open_over_24h], ['c_k_rating', x.ratings ? x.mean_rating.toFixed(1) : '—']
      ];
      var dl = h('dl', { class: 'c-kpi-dl' });
      pairs.forEach(function (p) {
        dl.appendChild(h('dt', { text: t(p[0]) }));
        dl.appendChild(h('dd', { text: String(p[1]) }));
      });
      list.appendChild(h('li', { dataset: { key: x.key } }, h('span', { class: 'c-row-title', text: g.label(x) }), dl));
    });
    return h('details', { class: 'c-details' }, h('summary', { text: t('c_kpiTable') }), list);
  }

  function drawGateways(body) {
    body.appendChild(h('h2', { text: t('c_gwTitle') }));
    var limit = 100;
    var g = get('/api/v1/gateways?limit=' + limit + '&offset=' + ui.gwOffset);
    var p = problem(g);
    if (p) { body.appendChild(p); return; }
    var list = g.body.gateways || [];
    var on = list.filter(function (x) { return x.online; }).length;
    var faulty = list.filter(function (x) { return x.open_faults && x.open_faults.length; }).length;
    body.appendChild(h('p', { class: 'c-summary', text: list.length ? t('c_gwSummary', { n: list.length, on: on, off: list.length - on, faults: faulty }) : t('c_gwNone') }));
    var ul = h('ul', { class: 'c-gateways' });
    list.forEach(function (x) {
      var seen = ago(x.last_seen_at);
      var faults = x.open_faults || [];
      ul.appendChild(h('li', { class: 'c-gw' + (x.online ? '' : ' is-offline'), dataset: { gatewayId: x.id, online: String(x.online) } },
        h('div', { class: 'c-row-head' },
          h('span', { class: 'c-gw-id', text: x.id }),
          h('span', { class: 'badge c-badge-' + (x.online ? 'on' : 'off'), text: t(x.online ? 'c_online' : 'c_offlineB') }),
          x.revoked ? h('span', { class: 'badge c-badge-off', text: t('c_revoked') }) : null),
        h('p', { class: 'c-meta c-seen', text: seen === null ? t('c_neverSeen') : t('c_lastSeen', { time: sw.formatTime(x.last_seen_at), dur: sw.formatDuration(seen) }) }),
        x.offline_since ? h('p', { class: 'c-meta', text: t('c_offlineSince', { time: sw.formatTime(x.offline_since) }) }) : null,
        h('p', { class: 'c-who' }, x.home_id ? homeLink(x.home_id, x.address || x.home_id) : t('c_unbound'), x.grid_id ? ' · ' + t('c_grid', { id: x.grid_id }) : ''),
        h('p', { class: faults.length ? 'c-faults' : 'c-meta', text: faults.length ? t('c_faults', { list: faults.map(sw.ruleName).join(t('listSep')) }) : t('c_noFaults') })));
    });
    body.appendChild(ul);
    var more = pager(ui.gwOffset, list.length, limit, function (o) { ui.gwOffset = o; });
    if (more) body.appendChild(more);
  }

  // Meter totals become use per window (the difference to the window before);
  // activity counts are already per window.
  function usePoints(series) {
    var pts = (series && series.Points) || [];
    if (series.Field === 'count') return pts.map(function (p) { return { t: p.T, v: p.Value }; });
    var out = [];
    var scale = series.Field === 'total_m3' ? 1000 : 1;
    for (var i = 1; i < pts.length; i++) out.push({ t: pts[i].T, v: Math.max(0, pts[i].Value - pts[i - 1].Value) * scale });
    return out;
  }

  function drawHome(body, id) {
    body.appendChild(h('h2', { text: t('c_homeTitle', { id: id }) }));
    [['water', 'c_water'], ['power', 'c_power']].forEach(function (s) {
      var c = get('/api/v1/homes/' + encodeURIComponent(id) + '/telemetry?sensor=' + s[0] + '&hours=' + ui.hours + '&every=1h');
      var box = h('div', { class: 'c-telemetry', dataset: { sensor: s[0] } });
      body.appendChild(box);
      if (c.status === 404 && !c.loading) { box.appendChild(h('p', { class: 'c-empty', text: t('c_noChart') })); return; }
      var p = problem(c);
      if (p) { box.appendChild(p); return; }
      var series = c.body.series || {};
      var pts = usePoints(series);
      var title = series.Field === 'count' ? t('c_count') : t(s[1]);
      if (!pts.length) {
        box.appendChild(h('h3', { class: 'c-h3', text: title }));
        box.appendChild(h('p', { class: 'c-empty', text: t('c_noData') }));
        return;
      }
      box.appendChild(vbars(title, pts, function (v) { return String(Math.round(v * 100) / 100); }));
    });
    drawPrivacy(body, id);
    if (role() === 'admin') body.appendChild(h('p', null, h('a', { href: '#console/audit/' + encodeURIComponent(id), text: t('c_homeAudit') })));
  }

  function drawPrivacy(body, id) {
    var path = '/api/v1/homes/' + encodeURIComponent(id) + '/privacy';
    var sec = h('section', { class: 'c-privacy' }, h('h3', { class: 'c-h3', text: t('c_privacyTitle') }));
    body.appendChild(sec);
    var c = get(path);
    var p = problem(c);
    if (p) { sec.appendChild(p); return; }
    var writable = role() === 'admin';
    if (!writable) sec.appendChild(h('p', { class: 'c-meta', text: t('c_privacyRO') }));
    PRIVACY_KINDS.forEach(function (kind) {
      var have = (c.body.privacy || {})[kind] || [];
      var fs = h('fieldset', { class: 'c-privacy-kind', dataset: { kind: kind } }, h('legend', { text: t('c_pk_' + kind) }));
      var boxes = h('div', { class: 'c-checks' });
      ROLES.forEach(function (r) {
        var cid = 'c-pv-' + kind + '-' + r;
        boxes.appendChild(h('label', { for: cid, class: 'c-check' },
          h('input', { type: 'checkbox', id: cid, value: r, checked: have.indexOf(r) >= 0, disabled: !writable || r === 'resident' }),
          ' ' + t('c_r_' + r)));
      });
      fs.appendChild(boxes);
      if (writable) {
        var msg = h('span', { class: 'c-save-msg', role: 'status' });
        var save = h('button', { type: 'button', class: 'tool-btn c-save', text: t('c_save') });
        save.addEventListener('click', function () {
          var roles = [];
          boxes.querySelectorAll('input:checked').forEach(function (i) { roles.push(i.value); });
          save.disabled = true;
          sw.api('PUT', path, { kind: kind, roles: roles }).then(function (r) {
            if (r.status === 200 && r.body) { cache[path] = { status: 200, body: r.body }; msg.textContent = t('c_saved'); }
            else msg.textContent = t('c_saveFailed', { msg: errMsg(r) });
            save.disabled = false;
          }, function () { msg.textContent = t('c_saveFailed', { msg: t('errNetwork') }); save.disabled = false; });
        });
        fs.appendChild(h('div', { class: 'c-save-row' }, save, msg));
      }
      sec.appendChild(fs);
    });
  }

  function errMsg(r) {
    return (r.body && r.body.error && r.body.error.message) || String(r.status);
  }

  // ------------------------------------------------------------ registry (admin)

  var REG = {
    grids: function (x) {
      return [h('span', { class: 'c-row-title', text: x.name + ' (' + x.id + ')' }), h('p', { class: 'c-meta', text: t('c_community', { c: x.community || '—' }) })];
    },
    workers: function (x) {
      var btn = h('button', { type: 'button', class: 'c-duty tool-btn', 'aria-pressed': x.on_duty ? 'true' : 'false',
        'aria-label': t('c_dutyLabel', { name: x.name, state: t(x.on_duty ? 'c_onDuty' : 'c_offDuty') }), text: t(x.on_duty ? 'c_onDuty' : 'c_offDuty') });
      btn.addEventListener('click', function () {
        btn.disabled = true;
        sw.api('PUT', '/api/v1/workers/' + encodeURIComponent(x.id) + '/duty', { on_duty: !x.on_duty }).then(function (r) {
          if (r.status === 200 && r.body && r.body.worker) x.on_duty = r.body.worker.on_duty;
          fill();
        }, function () { fill(); });
      });
      return [h('div', { class: 'c-row-head' }, h('span', { class: 'c-row-title', text: x.name + ' (' + x.id + ')' }), btn),
        h('p', { class: 'c-meta', text: t('c_role_' + x.role) + ' · ' + t('c_grid', { id: x.grid_id }) + (x.phone ? ' · ' + sw.prettyPhone(x.phone) : '') })];
    },
    homes: function (x) {
      return [h('div', { class: 'c-row-head' }, homeLink(x.id, x.address + ' (' + x.id + ')')),
        h('p', { class: 'c-meta', text: [x.resident_name, t('c_grid', { id: x.grid_id }), x.gateway_id ? t('c_gateway', { id: x.gateway_id }) : t('c_noGateway'),
          t('c_sensors', { n: (x.sensors || []).length })].filter(Boolean).join(' · ') })];
    },
    residents: function (x) {
      return [h('span', { class: 'c-row-title', text: x.name + ' (' + x.id + ')' }),
        h('p', { class: 'c-meta', text: [t('c_home', { id: x.home_id }), x.phone ? sw.prettyPhone(x.phone) : '', t('c_contacts', { n: (x.emergency_contacts || []).length })].filter(Boolean).join(' · ') })];
    }
  };

  function registryControls() {
    var file = h('input', { type: 'file', id: 'c-import-file', accept: '.csv,text/csv' });
    var submit = h('button', { type: 'submit', id: 'c-import-submit', class: 'primary-btn c-import-btn', text: t('c_importSubmit') });
    var form = h('form', { id: 'c-import', class: 'c-import', novalidate: true },
      h('h3', { class: 'c-h3', text: t('c_importTitle') }),
      h('div', { class: 'c-field' }, h('label', { for: 'c-import-file', text: t('c_importFile') }), file),
      submit,
      h('p', null, h('a', { class: 'c-export', href: '/api/v1/registry/export', download: 'registry.csv', text: t('c_export') })));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var f = file.files && file.files[0];
      if (!f) { ui.importReport = { key: 'c_importNoFile' }; fill(); return; }
      submit.disabled = true;
      submit.textContent = t('c_importing');
      var gen = sw.gen();
      f.text().then(function (text) {
        return sw.api('POST', '/api/v1/registry/import', text, 'text/csv');
      }).then(function (r) {
        if (gen !== sw.gen()) return;
        ui.importReport = { file: f.name, status: r.status, body: r.body };
        if (r.status === 200) stale(/^\/api\/v1\/(grids|workers|homes|residents|gateways)/);
      }, function () {
        ui.importReport = { file: f.name, status: 0, body: null };
      }).then(function () {
        submit.disabled = false;
        submit.textContent = t('c_importSubmit');
        fill();
      });
    });
    var kinds = h('div', { class: 'c-reg-kinds', role: 'group', 'aria-label': t('c_regKinds') });
    Object.keys(REG).forEach(function (k) {
      var b = h('button', { type: 'button', class: 'tool-btn c-reg-kind', dataset: { kind: k }, 'aria-pressed': ui.reg === k ? 'true' : 'false', text: t('c_reg_' + k) });
      b.addEventListener('click', function () {
        ui.reg = k;
        ui.regOffset = 0;
        kinds.querySelectorAll('button').forEach(function (o) { o.setAttribute('aria-pressed', o === b ? 'true' : 'false'); });
        fill();
      });
      kinds.appendChild(b);
    });
    return h('div', { class: 'c-controls' }, form, kinds);
  }

  function importReport() {
    var r = ui.importReport;
    if (!r) return null;
    if (r.key) return h('p', { class: 'c-import-report c-error', role: 'alert', dataset: { result: 'error' }, text: t(r.key) });
    var err = r.body && r.body.error;
    if (r.status === 422 && err && Array.isArray(err.lines)) {
      var ol = h('ol', { class: 'c-import-errors' });
      err.lines.forEach(function (l) {
        ol.appendChild(h('li', { dataset: { line: String(l.line) } },
          h('strong', { text: t('c_importLine', { line: l.line }) + (l.column ? t('c_importCol', { col: l.column }) : '') }), '：' + l.message));
      });
      return h('div', { class: 'c-import-report c-error', role: 'alert', dataset: { result: 'error' } },
        h('p', { text: t('c_importBad', { file: r.file, n: err.lines.length + (err.more || 0) }) }), ol,
        err.more ? h('p', { text: t('c_importMore', { n: err.more }) }) : null);
    }
    if (r.status === 200 && r.body && r.body.imported) {
      var n = r.body.imported;
      return h('p', { class: 'c-import-report c-ok', role: 'status', dataset: { result: 'ok' },
        text: t('c_importOk', { file: r.file, grids: n.grids, workers: n.workers, homes: n.homes, residents: n.residents, contacts: n.contacts, family: n.family }) });
    }
    return h('p', { class: 'c-import-report c-error', role: 'alert', dataset: { result: 'error' }, text: t('c_importFail', { status: r.status, msg: r.body ? errMsg(r) : t('errNetwork') }) });
  }

  function drawRegistry(body) {
    var report = importReport();
    if (report) body.appendChild(report);
    body.appendChild(h('h2', { text: t('c_regTitle') + ' · ' + t('c_reg_' + ui.reg) }));
    var c = get('/api/v1/' + ui.reg + '?limit=' + PAGE + '&offset=' + ui.regOffset);
    var p = problem(c);
    if (p) { body.appendChild(p); return; }
    var list = c.body[ui.reg] || [];
    var ul = h('ul', { class: 'c-rows c-reg-list', dataset: { kind: ui.reg } });
    list.forEach(function (x) {
      var li = h('li', { class: 'c-reg-row', dataset: { id: x.id } });
      if (ui.reg === 'homes') li.dataset.homeId = x.id;
      REG[ui.reg](x).forEach(function (n) { li.appendChild(n); });
      ul.appendChild(li);
    });
    body.appendChild(ul);
    var more = pager(ui.regOffset, list.length, PAGE, function (o) { ui.regOffset = o; });
    if (more) body.appendChild(more);
  }

  // ------------------------------------------------------------ duty (supervisor)

  // The supervisor's staff (the API lists their community's workers only), each with
  // the same shift switch as the registry's.
  function drawDuty(body) {
    body.appendChild(h('h2', { text: t('c_dutyTitle') }));
    var c = get('/api/v1/workers?limit=' + PAGE + '&offset=' + ui.dutyOffset);
    var p = problem(c);
    if (p) { body.appendChild(p); return; }
    var list = c.body.workers || [];
    if (!list.length && !ui.dutyOffset) { body.appendChild(h('p', { class: 'c-empty', text: t('c_dutyNone') })); return; }
    var ul = h('ul', { class: 'c-rows c-reg-list', dataset: { kind: 'workers' } });
    list.forEach(function (x) {
      var li = h('li', { class: 'c-reg-row', dataset: { id: x.id } });
      REG.workers(x).forEach(function (n) { li.appendChild(n); });
      ul.appendChild(li);
    });
    body.appendChild(ul);
    var more = pager(ui.dutyOffset, list.length, PAGE, function (o) { ui.dutyOffset = o; });
    if (more) body.appendChild(more);
  }

  // ------------------------------------------------------------ audit (admin)

  function auditControls(home) {
    var input = h('input', { type: 'text', id: 'c-audit-home', value: home, autocapitalize: 'none', spellcheck: 'false' });
    var form = h('form', { class: 'c-controls c-audit-form', novalidate: true },
      h('div', { class: 'c-field' }, h('label', { for: 'c-audit-home', text: t('c_auditHome') }), input),
      h('button', { type: 'submit', class: 'tool-btn', text: t('c_auditFilter') }));
    var all = h('button', { type: 'button', class: 'tool-btn', text: t('c_auditAll') });
    all.addEventListener('click', function () { window.location.hash = '#console/audit'; });
    form.appendChild(all);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var v = input.value.trim();
      window.location.hash = '#console/audit' + (v ? '/' + encodeURIComponent(v) : '');
    });
    return form;
  }

  function drawAudit(body, home) {
    body.appendChild(h('h2', { text: t('c_auditTitle') + (home ? ' · ' + t('c_home', { id: home }) : '') }));
    var v = get('/api/v1/audit/verify');
    var p = problem(v);
    if (p) body.appendChild(p);
    else {
      body.appendChild(h('p', { class: 'c-verify ' + (v.body.verified ? 'c-ok' : 'c-error'), role: 'status', dataset: { verified: String(!!v.body.verified) },
        text: v.body.verified ? t('c_verified', { n: v.body.entries }) : t('c_notVerified', { problem: v.body.problem || '' }) }));
    }
    var c = get('/api/v1/audit' + (home ? '?home=' + encodeURIComponent(home) : ''));
    p = problem(c);
    if (p) { body.appendChild(p); return; }
    var list = (c.body.audit || []).slice(0, 200);
    if (!list.length) { body.appendChild(h('p', { class: 'c-empty', text: t('c_auditNone') })); return; }
    body.appendChild(h('p', { class: 'c-meta', text: t('c_auditShown', { n: list.length }) }));
    var ol = h('ol', { class: 'c-rows c-audit' });
    list.forEach(function (e) {
      ol.appendChild(h('li', { class: 'c-audit-row', dataset: { seq: String(e.seq) } },
        h('div', { class: 'c-row-head' }, h('span', { class: 'c-row-title', text: '#' + e.seq + ' ' + e.actor + ' · ' + e.action + ' ' + e.object }),
          h('span', { class: 'c-time', text: sw.formatTime(e.at) })),
        h('p', { class: 'c-meta' }, e.home_id ? homeLink(e.home_id) : '', e.reason ? ' · ' + e.reason : '')));
    });
    body.appendChild(ol);
  }

  // ------------------------------------------------------------ live

  // A step or a new case changes the lists, counts and figures: fetch them again
  // (shown at once if on screen, else when next opened).
  function changed() {
    stale(/^\/api\/v1\/(incidents|escalations|kpis)/);
    fill();
  }
  sw.on('incident', changed);
  // Ages keep counting.
  window.setInterval(function () { if (shell && shell.section === 'overview') fill(); }, 60 * 1000);

  sw.view({
    name: 'console',
    pattern: /^#console(?:\/([a-z]+)(?:\/(.+))?)?$/,
    href: '#console',
    roles: STAFF,
    tabKey: 'c_tab',
    landing: ['supervisor'],
    render: render
  });
});
