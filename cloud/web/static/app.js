/* 守望 Shouwang — alert list for grid workers, families and supervisors.
 * Plain JavaScript, no build step, no framework. Talks to the same-origin API
 * under /api/v1 (session cookie) and listens to /api/v1/events (SSE). */
(function () {
  'use strict';

  // ---------------------------------------------------------------- strings

  var I18N = {
    'zh-CN': {
      skip: '跳到主要内容',
      toolbar: '设置',
      langOther: 'English',
      langOtherLabel: 'Switch to English',
      largeText: '大字',
      logout: '退出',
      loading: '正在加载…',
      live: '实时',
      offline: '离线',
      liveLabel: '实时连接正常',
      offlineLabel: '未连接，正在重试',
      loginTitle: '登录',
      username: '用户名',
      password: '密码',
      loginButton: '登录',
      loggingIn: '正在登录…',
      errMissing: '请输入用户名和密码',
      errBadCredentials: '用户名或密码错误',
      errThrottled: '尝试次数过多，请稍后再试',
      errNetwork: '无法连接服务器，请检查网络后重试',
      errServer: '登录失败（{status}），请稍后再试',
      errLoad: '告警加载失败，正在重试…',
      alertsTitle: '告警',
      alertsLabel: '告警列表',
      noAlerts: '暂无告警',
      summary: '{active} 条未恢复告警，共 {total} 条',
      summaryNone: '没有未恢复的告警，共 {total} 条',
      sev_critical: '紧急',
      sev_warning: '警告',
      sev_info: '提示',
      class_device: '设备问题',
      class_gateway: '网关问题',
      cleared: '已恢复',
      raisedAt: '告警时间',
      clearedAt: '恢复时间',
      dispatchedAt: '派单时间',
      gateway: '网关',
      assignee: '网格员',
      unassigned: '待分派',
      call: '拨打',
      callLabel: '拨打 {name} 电话 {phone}',
      noRecord: '无记录',
      evidenceLast: '最后{signal} {time}，已\u00a0{dur}',
      evidenceNever: '{signal}：无记录',
      evidenceJustNow: '最后{signal} {time}，刚刚',
      evidenceQuiet: '{signal}：已\u00a0{dur}',
      sig_water: '用水',
      sig_motion: '活动',
      sig_door: '开门',
      sig_exit: '出门',
      sig_presence: '有人',
      sig_power: '用电',
      sig_button: '按键',
      sig_heartbeat: '心跳',
      sig_gateway: '网关上报',
      sig_clock: '时钟',
      sig_prealarm: '本地预警',
      sig_routine: '日常规律',
      sigUnknown: '“{code}”信号',
      durLess: '不到1分钟',
      durMin: '{m}分钟',
      durHour: '{h}小时{mm}分钟',
      durDay: '{d}天{h}小时',
      yesterday: '昨天',
      dateMD: '{M}月{D}日',
      dateYMD: '{Y}年{M}月{D}日',
      announceNew: '新告警：{rule}，{resident}，{address}',
      announceCleared: '已恢复：{rule}，{resident}',
      titleCount: '({n}) 守望 Shouwang',
      rules: {
        no_water: '长时间未用水',
        no_exit: '多日未出门',
        water_running: '持续用水',
        sos: '紧急呼叫',
        no_motion: '长时间无活动',
        fall: '疑似跌倒',
        door_open: '门长时间未关',
        gateway_offline: '网关离线',
        device_offline: '设备离线',
        sensor_offline: '传感器离线',
        battery_low: '电池电量低',
        power_lost: '网关断电',
        water_leak: '疑似漏水',
        power_flat: '长时间无用电',
        night_door: '深夜开门',
        routine: '日常活动未出现',
        away_suggested: '疑似外出',
        cancelled_by_resident: '老人已确认平安',
        device_fault: '设备故障',
        clock_jump: '网关时钟跳变',
        gateway_down: '网关曾断电'
      }
    },
    en: {
      skip: 'Skip to main content',
      toolbar: 'Settings',
      langOther: '中文',
      langOtherLabel: '切换到中文',
      largeText: 'Large text',
      logout: 'Log out',
      loading: 'Loading…',
      live: 'Live',
      offline: 'Offline',
      liveLabel: 'Live updates connected',
      offlineLabel: 'Not connected, retrying',
      loginTitle: 'Log in',
      username: 'Username',
      password: 'Password',
      loginButton: 'Log in',
      loggingIn: 'Logging in…',
      errMissing: 'Please enter your username and password',
      errBadCredentials: 'Wrong username or password',
      errThrottled: 'Too many attempts. Please wait and try again',
      errNetwork: 'Cannot reach the server. Check the network and try again',
      errServer: 'Login failed ({status}). Please try again later',
      errLoad: 'Could not load alerts, retrying…',
      alertsTitle: 'Alerts',
      alertsLabel: 'Alert list',
      noAlerts: 'No alerts',
      summary: '{active} active of {total} alerts',
      summaryNone: 'No active alerts ({total} in total)',
      sev_critical: 'Critical',
      sev_warning: 'Warning',
      sev_info: 'Info',
      class_device: 'Device issue',
      class_gateway: 'Gateway issue',
      cleared: 'Cleared',
      raisedAt: 'Raised',
      clearedAt: 'Cleared',
      dispatchedAt: 'Dispatched',
      gateway: 'Gateway',
      assignee: 'Grid worker',
      unassigned: 'Not yet assigned',
      call: 'Call',
      callLabel: 'Call {name} at {phone}',
      noRecord: 'none',
      evidenceLast: 'Last {signal} {time}, {dur}\u00a0ago',
      evidenceNever: 'No {signal} recorded',
      evidenceJustNow: 'Last {signal} {time}, just now',
      evidenceQuiet: 'No {signal} for {dur}',
      sig_water: 'water use',
      sig_motion: 'movement',
      sig_door: 'door opening',
      sig_exit: 'time out of home',
      sig_presence: 'presence',
      sig_power: 'power use',
      sig_button: 'button press',
      sig_heartbeat: 'heartbeat',
      sig_gateway: 'gateway report',
      sig_clock: 'clock',
      sig_prealarm: 'local pre-alarm',
      sig_routine: 'usual routine',
      sigUnknown: '"{code}" signal',
      durLess: 'under\u00a01\u00a0min',
      durMin: '{m}\u00a0min',
      durHour: '{h}\u00a0h\u00a0{mm}\u00a0min',
      durDay: '{d}\u00a0d\u00a0{h}\u00a0h',
      yesterday: 'yesterday',
      dateMD: '{Mon} {D}',
      dateYMD: '{Mon} {D}, {Y}',
      announceNew: 'New alert: {rule}, {resident}, {address}',
      announceCleared: 'Cleared: {rule}, {resident}',
      titleCount: '({n}) 守望 Shouwang',
      rules: {
        no_water: 'No water use',
        no_exit: 'Not left home',
        water_running: 'Water running',
        sos: 'SOS',
        no_motion: 'No movement',
        fall: 'Possible fall',
        door_open: 'Door left open',
        gateway_offline: 'Gateway offline',
        device_offline: 'Device offline',
        sensor_offline: 'Sensor offline',
        battery_low: 'Battery low',
        power_lost: 'Gateway power lost',
        water_leak: 'Possible leak',
        power_flat: 'No electricity use',
        night_door: 'Door opened at night',
        routine: 'Usual activity missing',
        away_suggested: 'Probably away',
        cancelled_by_resident: 'Resident says OK',
        device_fault: 'Device fault',
        clock_jump: 'Gateway clock jumped',
        gateway_down: 'Gateway was off'
      }
    }
  };
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  var SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
  function sevRank(s) { return Object.prototype.hasOwnProperty.call(SEVERITY_RANK, s) ? SEVERITY_RANK[s] : 3; }

  var LS_LANG = 'shouwang.lang';
  var LS_TEXT = 'shouwang.largeText';
  var HIGHLIGHT_MS = 6000;

  // ------------------------------------------------------------------ state

  var state = {
    lang: 'zh-CN',
    largeText: false,
    user: null,
    alerts: {},          // id -> Alert
    loaded: false,       // first /alerts fetch done (so later arrivals are "new")
    fresh: {},           // id -> timestamp of arrival, for the highlight
    live: false,
    source: null,        // EventSource
    everOpened: false,
    retryTimer: 0,
    retryDelay: 2000,
    loginError: null,    // {key, vars} of the message shown in #login-error
    gen: 0               // bumped at each log in/out; stale async answers are dropped
  };

  function $(id) { return document.getElementById(id); }

  function storageGet(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function storageSet(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ }
  }

  function pickLang() {
    var saved = storageGet(LS_LANG);
    if (saved === 'en' || saved === 'zh-CN') return saved;
    var nav = (navigator.language || '').toLowerCase();
    return nav.indexOf('en') === 0 ? 'en' : 'zh-CN';
  }

  function t(key, vars) {
    var dict = I18N[state.lang];
    var s = dict[key];
    if (s === undefined) s = I18N['zh-CN'][key];
    if (s === undefined) s = key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, function (m, name) {
        return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m;
      });
    }
    return s;
  }

  function ruleName(code) {
    var r = I18N[state.lang].rules;
    return Object.prototype.hasOwnProperty.call(r, code) ? r[code] : String(code || '?');
  }

  function signalName(code) {
    var key = 'sig_' + code;
    var dict = I18N[state.lang];
    return Object.prototype.hasOwnProperty.call(dict, key) ? dict[key] : t('sigUnknown', { code: code });
  }

  // ------------------------------------------------------------- formatting

  function pad2(n) { return n < 10 ? '0' + n : String(n); }

  function parseTime(s) {
    if (!s) return null;
    var d = new Date(s);
    return isNaN(d.getTime()) ? null : d;
  }

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  // Local HH:MM, preceded by the date (or "yesterday") when not today.
  function formatTime(s) {
    var d = parseTime(s);
    if (!d) return '';
    var hm = pad2(d.getHours()) + ':' + pad2(d.getMinutes());
    var now = new Date();
    if (sameDay(d, now)) return hm;
    var y = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
    if (sameDay(d, y)) return t('yesterday') + ' ' + hm;
    var vars = { Y: d.getFullYear(), M: d.getMonth() + 1, D: d.getDate(), Mon: MONTHS[d.getMonth()] };
    var date = t(d.getFullYear() === now.getFullYear() ? 'dateMD' : 'dateYMD', vars);
    return date + ' ' + hm;
  }

  // Seconds as "12小时03分钟" / "12 h 03 min"; days as "2天3小时" / "2 d 3 h".
  // The English units are joined by no-break spaces (and the Chinese evidence
  // lines use word-break: keep-all) so a duration never wraps in the middle.
  function formatDuration(sec) {
    sec = Math.max(0, Math.floor(Number(sec) || 0));
    var mins = Math.floor(sec / 60);
    if (mins < 1) return t('durLess');
    if (mins < 60) return t('durMin', { m: mins });
    var h = Math.floor(mins / 60);
    var m = mins % 60;
    if (h < 24) return t('durHour', { h: h, mm: pad2(m) });
    return t('durDay', { d: Math.floor(h / 24), h: h % 24 });
  }

  function evidenceText(ev) {
    var sig = signalName(ev.signal);
    var hasQuiet = typeof ev.quiet_s === 'number' && isFinite(ev.quiet_s);
    if (ev.last_at && parseTime(ev.last_at)) {
      var time = formatTime(ev.last_at);
      if (hasQuiet && ev.quiet_s < 60) return t('evidenceJustNow', { signal: sig, time: time });
      if (hasQuiet) return t('evidenceLast', { signal: sig, time: time, dur: formatDuration(ev.quiet_s) });
      // No duration given: compute it from now.
      var secs = (Date.now() - parseTime(ev.last_at).getTime()) / 1000;
      return t('evidenceLast', { signal: sig, time: time, dur: formatDuration(secs) });
    }
    if (hasQuiet) return t('evidenceQuiet', { signal: sig, dur: formatDuration(ev.quiet_s) });
    return t('evidenceNever', { signal: sig });
  }

  // 13800000000 -> "138 0000 0000" (easier to read aloud); others unchanged.
  function prettyPhone(p) {
    var s = String(p || '');
    return /^1\d{10}$/.test(s) ? s.slice(0, 3) + ' ' + s.slice(3, 7) + ' ' + s.slice(7) : s;
  }

  function telHref(p) {
    return 'tel:' + String(p || '').replace(/[^\d+]/g, '');
  }

  // -------------------------------------------------------------------- DOM

  // h('p', {class: 'x', dataset: {...}}, child, 'text', ...) — never uses innerHTML.
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k === 'dataset') Object.keys(v).forEach(function (d) { el.dataset[d] = v[d]; });
        else el.setAttribute(k, v === true ? '' : v);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }

  function applyLanguage() {
    var root = document.documentElement;
    root.lang = state.lang;
    document.querySelectorAll('[data-i18n]').forEach(function (el) {
      el.textContent = t(el.getAttribute('data-i18n'));
    });
    document.querySelectorAll('[data-i18n-aria]').forEach(function (el) {
      el.setAttribute('aria-label', t(el.getAttribute('data-i18n-aria')));
    });
    var lt = $('lang-toggle');
    lt.textContent = t('langOther');
    lt.setAttribute('aria-label', t('langOtherLabel'));
    lt.setAttribute('lang', state.lang === 'en' ? 'zh-CN' : 'en');
    $('alerts').setAttribute('aria-label', t('alertsLabel'));
    renderLive();
    renderUser();
    if (state.user) renderAlerts();
  }

  function applyTextSize() {
    document.documentElement.classList.toggle('large-text', state.largeText);
    $('text-size-toggle').setAttribute('aria-pressed', state.largeText ? 'true' : 'false');
  }

  function renderLive() {
    var el = $('live-status');
    el.dataset.live = state.live ? 'true' : 'false';
    el.querySelector('.live-text').textContent = t(state.live ? 'live' : 'offline');
    el.setAttribute('title', t(state.live ? 'liveLabel' : 'offlineLabel'));
    el.setAttribute('aria-label', t(state.live ? 'liveLabel' : 'offlineLabel'));
  }

  function renderUser() {
    var u = state.user;
    $('user-name').textContent = u ? (u.name || u.username || '') : '';
  }

  function show(view) {
    $('loading').hidden = view !== 'loading';
    $('login-view').hidden = view !== 'login';
    $('alerts-view').hidden = view !== 'alerts';
    $('logout').hidden = view !== 'alerts';
    $('live-status').hidden = view !== 'alerts';
  }

  function timeOf(a) {
    var d = parseTime(a.raised_at) || parseTime(a.received_at);
    return d ? d.getTime() : 0;
  }

  // Raised critical first, then other raised alerts, then cleared ones;
  // newest first within each group.
  function sortedAlerts() {
    var list = Object.keys(state.alerts).map(function (id) { return state.alerts[id]; });
    function group(a) {
      if (a.state === 'cleared') return 2;
      return a.severity === 'critical' ? 0 : 1;
    }
    list.sort(function (a, b) {
      var g = group(a) - group(b);
      if (g) return g;
      var d = timeOf(b) - timeOf(a);
      if (d) return d;
      return sevRank(a.severity) - sevRank(b.severity);
    });
    return list;
  }

  function metaRow(dl, label, value) {
    if (!value) return;
    dl.appendChild(h('dt', { text: label }));
    dl.appendChild(h('dd', { text: value }));
  }

  function renderCard(a) {
    var sev = sevRank(a.severity) < 3 ? a.severity : 'info';
    var cleared = a.state === 'cleared';
    var titleId = 'alert-title-' + String(a.id).replace(/[^\w-]/g, '_');

    var head = h('div', { class: 'card-head' },
      h('h3', { class: 'rule-name', id: titleId, text: ruleName(a.rule) }),
      h('span', { class: 'badge badge-' + sev + ' severity', text: t('sev_' + sev) }),
      (a.class === 'device' || a.class === 'gateway')
        ? h('span', { class: 'badge badge-class', text: t('class_' + a.class) }) : null,
      cleared ? h('span', { class: 'badge badge-cleared state-badge', text: t('cleared') }) : null
    );

    var who = h('div', { class: 'who' },
      a.resident ? h('p', { class: 'resident', text: a.resident }) : null,
      a.address ? h('p', { class: 'address', text: a.address }) : null
    );

    var evidence = null;
    if (Array.isArray(a.evidence) && a.evidence.length) {
      evidence = h('ul', { class: 'evidence' });
      a.evidence.forEach(function (ev) {
        if (ev && ev.signal) {
          evidence.appendChild(h('li', { dataset: { signal: ev.signal }, text: evidenceText(ev) }));
        }
      });
    }

    var meta = h('dl', { class: 'meta' });
    metaRow(meta, t('raisedAt'), formatTime(a.raised_at || a.received_at));
    if (cleared) metaRow(meta, t('clearedAt'), formatTime(a.cleared_at));
    metaRow(meta, t('dispatchedAt'), formatTime(a.dispatched_at));
    if (a.class === 'device' || a.class === 'gateway') metaRow(meta, t('gateway'), a.gateway);

    var as = a.assignee;
    var assignee = h('div', { class: 'assignee' },
      h('span', { class: 'assignee-label', text: t('assignee') }),
      as && as.name
        ? h('span', { class: 'assignee-name', text: as.name })
        : h('span', { class: 'assignee-name unassigned', dataset: { unassigned: 'true' }, text: t('unassigned') }),
      as && as.phone
        ? h('a', {
          class: 'call-link',
          href: telHref(as.phone),
          'aria-label': t('callLabel', { name: as.name || '', phone: prettyPhone(as.phone) })
        }, h('span', { 'aria-hidden': 'true', text: '☎' }), t('call') + ' ' + prettyPhone(as.phone))
        : null
    );

    var classes = 'alert-card sev-' + sev + (state.fresh[a.id] ? ' is-new' : '');
    var li = h('li', {
      class: classes,
      'aria-labelledby': titleId,
      dataset: {
        alertId: a.id,
        state: cleared ? 'cleared' : 'raised',
        severity: sev,
        rule: a.rule || '',
        status: a.status || ''
      }
    }, h('article', null, head, who, evidence, meta, assignee));
    // A re-render must not restart the highlight: resume it where it was.
    if (state.fresh[a.id]) li.style.animationDelay = -(Date.now() - state.fresh[a.id]) + 'ms';
    return li;
  }

  function renderAlerts() {
    var box = $('alerts');
    var list = sortedAlerts();
    var active = list.filter(function (a) { return a.state !== 'cleared'; }).length;
    box.textContent = '';
    if (!list.length && !state.loaded) {
      box.appendChild(h('p', { class: 'alerts-loading notice', text: t('loading') }));
      $('alert-summary').textContent = '';
    } else if (!list.length) {
      box.appendChild(h('p', { class: 'alerts-empty', text: t('noAlerts') }));
      $('alert-summary').textContent = '';
    } else {
      var ol = h('ol', { class: 'alert-list' });
      list.forEach(function (a) { ol.appendChild(renderCard(a)); });
      box.appendChild(ol);
      $('alert-summary').textContent = t(active ? 'summary' : 'summaryNone', { active: active, total: list.length });
    }
    document.title = active ? t('titleCount', { n: active }) : '守望 Shouwang';
  }

  // Each announcement is added as its own line (so a quick second one does not
  // cut off the first) and removed again after a while; at most 3 are shown.
  function announce(text) {
    var el = $('announcer');
    var line = h('p', { text: text });
    el.appendChild(line);
    while (el.childNodes.length > 3) el.removeChild(el.firstChild);
    window.setTimeout(function () {
      if (line.parentNode === el) el.removeChild(line);
    }, 15000);
  }

  // ----------------------------------------------------------------- alerts

  // Insert or replace one alert. Returns 'new', 'cleared' (a state change to
  // cleared), 'updated' or null.
  function upsert(a) {
    if (!a || !a.id) return null;
    var old = state.alerts[a.id];
    state.alerts[a.id] = a;
    if (!old) return 'new';
    if (old.state !== 'cleared' && a.state === 'cleared') return 'cleared';
    return 'updated';
  }

  function markFresh(id) {
    state.fresh[id] = Date.now();
    window.setTimeout(function () {
      delete state.fresh[id];
      var card = document.querySelector('.alert-card[data-alert-id="' + cssEscape(id) + '"]');
      if (card) card.classList.remove('is-new');
    }, HIGHLIGHT_MS);
  }

  function cssEscape(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&');
  }

  // quiet: true for the first load after logging in (nothing is "new" yet).
  function receive(alerts, quiet) {
    var news = [];
    var clearedOnes = [];
    alerts.forEach(function (a) {
      var what = upsert(a);
      if (quiet) return;
      if (what === 'new') news.push(a);
      else if (what === 'cleared') clearedOnes.push(a);
    });
    news.forEach(function (a) { markFresh(a.id); });
    renderAlerts();
    if (news.length) {
      // Announce the most urgent newcomer; mention how many more.
      news.sort(function (x, y) { return sevRank(x.severity) - sevRank(y.severity); });
      var a = news[0];
      var text = t('announceNew', { rule: ruleName(a.rule), resident: a.resident || '', address: a.address || '' });
      if (news.length > 1) text += state.lang === 'en' ? ' (+' + (news.length - 1) + ' more)' : '（另有 ' + (news.length - 1) + ' 条）';
      announce(text);
      if (a.severity === 'critical' && a.state !== 'cleared' && navigator.vibrate) {
        try { navigator.vibrate([200, 100, 200]); } catch (e) { /* not allowed */ }
      }
    } else if (clearedOnes.length) {
      var c = clearedOnes[0];
      announce(t('announceCleared', { rule: ruleName(c.rule), resident: c.resident || '' }));
    }
  }

  function api(method, path, body) {
    var opts = {
      method: method,
      credentials: 'same-origin',
      headers: { 'Accept': 'application/json' }
    };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      var ct = res.headers.get('Content-Type') || '';
      if (res.status === 204 || ct.indexOf('json') < 0) return { status: res.status, body: null };
      return res.json().then(function (b) { return { status: res.status, body: b }; },
        function () { return { status: res.status, body: null }; });
    });
  }

  var loadRetry = 0;
  function loadAlerts() {
    var gen = state.gen;
    return api('GET', '/api/v1/alerts?limit=100').then(function (r) {
      if (gen !== state.gen) return; // logged out (or in again) meanwhile
      if (r.status === 401) { loggedOut(); return; }
      if (r.status !== 200 || !r.body || !Array.isArray(r.body.alerts)) throw new Error('status ' + r.status);
      $('alerts').setAttribute('aria-busy', 'false');
      var first = !state.loaded;
      state.loaded = true;
      receive(r.body.alerts, first);
    }).catch(function () {
      if (!state.user || gen !== state.gen) return;
      if (!state.loaded) $('alert-summary').textContent = t('errLoad');
      window.clearTimeout(loadRetry);
      loadRetry = window.setTimeout(function () { if (state.user) loadAlerts(); }, 5000);
    });
  }

  // ------------------------------------------------------------------- live

  function setLive(on) {
    if (state.live === on) return;
    state.live = on;
    renderLive();
  }

  function connect() {
    disconnect();
    if (!window.EventSource) return;
    var es = new EventSource('/api/v1/events', { withCredentials: true });
    state.source = es;
    es.addEventListener('open', function () {
      if (state.source !== es) return;
      var reconnect = state.everOpened;
      state.everOpened = true;
      state.retryDelay = 2000;
      setLive(true);
      // Fill any gap while we were away (also covers the first connection
      // racing the initial fetch).
      if (reconnect) loadAlerts();
    });
    es.addEventListener('alert', function (e) {
      if (state.source !== es) return;
      var a;
      try { a = JSON.parse(e.data); } catch (err) { return; }
      receive([a], !state.loaded);
    });
    es.addEventListener('error', function () {
      if (state.source !== es) return;
      setLive(false);
      if (es.readyState === 2) {
        // The browser gave up (e.g. a non-200 answer): check the session,
        // then retry ourselves with a growing delay.
        es.close();
        state.source = null;
        window.clearTimeout(state.retryTimer);
        var gen = state.gen;
        state.retryTimer = window.setTimeout(function () {
          api('GET', '/api/v1/me').then(function (r) {
            if (gen !== state.gen) return;
            if (r.status === 401) loggedOut();
            else connect();
          }, function () { if (gen === state.gen && state.user) connect(); });
        }, state.retryDelay);
        state.retryDelay = Math.min(state.retryDelay * 2, 60000);
      }
    });
  }

  function disconnect() {
    window.clearTimeout(state.retryTimer);
    if (state.source) { state.source.close(); state.source = null; }
    setLive(false);
  }

  // ------------------------------------------------------------ auth & flow

  function loggedIn(user) {
    state.gen++;
    state.user = user;
    state.alerts = {};
    state.fresh = {};
    state.loaded = false;
    state.everOpened = false;
    renderUser();
    renderAlerts();
    $('alerts').setAttribute('aria-busy', 'true');
    show('alerts');
    connect();
    loadAlerts();
  }

  function loggedOut() {
    state.gen++;
    state.user = null;
    state.alerts = {};
    state.fresh = {};
    state.loaded = false;
    disconnect();
    window.clearTimeout(loadRetry);
    $('alerts').textContent = '';
    $('announcer').textContent = '';
    document.title = '守望 Shouwang';
    renderUser();
    show('login');
    $('password').value = '';
  }

  // key: an I18N key (or '' to clear); kept so a language switch re-translates it.
  function showLoginError(key, vars) {
    state.loginError = key ? { key: key, vars: vars } : null;
    var msg = key ? t(key, vars) : '';
    var el = $('login-error');
    el.textContent = msg;
    el.hidden = !msg;
    $('password').setAttribute('aria-invalid', msg ? 'true' : 'false');
  }

  function onLoginSubmit(e) {
    e.preventDefault();
    var username = $('username').value.trim();
    var password = $('password').value;
    if (!username || !password) {
      showLoginError('errMissing');
      (username ? $('password') : $('username')).focus();
      return;
    }
    var btn = $('login-submit');
    btn.disabled = true;
    btn.textContent = t('loggingIn');
    showLoginError('');
    api('POST', '/api/v1/login', { username: username, password: password }).then(function (r) {
      if (r.status === 200 && r.body && r.body.user) {
        $('password').value = '';
        loggedIn(r.body.user);
        $('main').focus();
      } else if (r.status === 401 || r.status === 400) {
        showLoginError('errBadCredentials');
        $('password').select();
        $('password').focus();
      } else if (r.status === 429) {
        showLoginError('errThrottled');
      } else {
        showLoginError('errServer', { status: r.status });
      }
    }, function () {
      showLoginError('errNetwork');
    }).then(function () {
      btn.disabled = false;
      btn.textContent = t('loginButton');
    });
  }

  function onLogout() {
    var done = function () { loggedOut(); $('username').focus(); };
    api('POST', '/api/v1/logout').then(done, done);
  }

  function checkSession() {
    show('loading');
    var gen = state.gen;
    api('GET', '/api/v1/me').then(function (r) {
      if (gen !== state.gen) return;
      if (r.status === 200 && r.body && r.body.user) loggedIn(r.body.user);
      else loggedOut();
    }, function () {
      if (gen !== state.gen) return;
      loggedOut();
      showLoginError('errNetwork');
    });
  }

  function init() {
    state.lang = pickLang();
    state.largeText = storageGet(LS_TEXT) === '1';
    applyTextSize();
    applyLanguage();

    $('lang-toggle').addEventListener('click', function () {
      state.lang = state.lang === 'en' ? 'zh-CN' : 'en';
      storageSet(LS_LANG, state.lang);
      applyLanguage();
      $('announcer').textContent = '';
      if (state.loginError) showLoginError(state.loginError.key, state.loginError.vars);
    });
    $('text-size-toggle').addEventListener('click', function () {
      state.largeText = !state.largeText;
      storageSet(LS_TEXT, state.largeText ? '1' : '0');
      applyTextSize();
    });
    $('logout').addEventListener('click', onLogout);
    $('login-form').addEventListener('submit', onLoginSubmit);

    // Phones sleep: when the page comes back, catch up and revive the stream.
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState !== 'visible' || !state.user) return;
      loadAlerts();
      if (!state.source || state.source.readyState === 2) connect();
    });
    // Keep "yesterday"/dates right if the page stays open past midnight.
    window.setInterval(function () { if (state.user) renderAlerts(); }, 10 * 60 * 1000);

    checkSession();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
