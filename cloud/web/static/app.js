/* 守望 Shouwang — incidents and alerts for grid workers, families and supervisors.
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
      dutyOn: '在岗',
      dutyOff: '已下班',
      dutyOnLabel: '您正在值班，新事件会派给您。点按下班',
      dutyOffLabel: '您已下班，新事件不会先派给您。点按上岗',
      dutyFailed: '未能切换值班状态：{msg}',
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
      sections: '页面',
      incidentsTab: '事件',
      alertsTab: '告警',
      incidentsTitle: '我的待处理事件',
      incidentsLabel: '事件列表',
      noIncidents: '暂无待处理事件',
      incidentSummary: '{n} 个待处理事件，{u} 个尚未接单',
      errLoadIncidents: '事件加载失败，正在重试…',
      errLoadIncident: '事件加载失败，正在重试…',
      incidentNotFound: '找不到该事件',
      back: '‹ 返回事件列表',
      st_discovered: '新发现',
      st_dispatched: '已派单，待接单',
      st_accepted: '已接单',
      st_on_site: '已到现场',
      st_resolved: '已处理',
      st_feedback: '已反馈',
      st_evaluated: '已评价',
      stateLabel: '状态',
      openedAgo: '{time} 发现，已 {dur}',
      openedJustNow: '{time} 发现，刚刚',
      conflictState: '无法{action}：事件已是“{state}”',
      tgt_on_duty: '值班网格员',
      tgt_backup: '备班网格员',
      tgt_supervisor: '社区负责人',
      tgt_technician: '设备技术员',
      inhibited: '网关离线，暂缓派单',
      openIncident: '打开事件：{resident}，{causes}',
      announceIncident: '新事件：{causes}，{resident}，{address}',
      listSep: '、',
      addressLabel: '地址',
      evidenceTitle: '告警证据',
      noEvidence: '暂无证据',
      contactTitle: '联系电话',
      contactSelf: '本人',
      contactOther: '紧急联系人',
      call120: '急救 120',
      call120Label: '拨打急救电话 120',
      timelineTitle: '处理记录',
      stepTitle: '下一步',
      act_accept: '接单',
      act_arrive: '已到达',
      act_resolve: '处理完成',
      act_feedback: '反馈',
      act_evaluate: '评价',
      act_feedbackSubmit: '提交反馈和评价',
      act_evaluateSubmit: '提交评价',
      tl_discovered: '发现事件',
      tl_alert_attached: '新增告警',
      tl_reopened: '重新打开',
      tl_dispatched: '派单',
      tl_escalated: '升级派单',
      tl_no_target: '无人可派',
      tl_escalation_exhausted: '升级已用尽',
      tl_accept: '接单',
      tl_arrive: '到达现场',
      tl_resolve: '处理完成',
      tl_feedback: '反馈',
      tl_evaluate: '评价',
      tl_inhibited: '暂缓派单',
      tl_uninhibited: '恢复派单',
      system: '系统',
      outcomeLegend: '处理结果',
      out_safe: '老人平安',
      out_needed_help: '需要帮助，已处理',
      out_hospital: '已送医',
      out_false_alarm: '误报',
      out_away: '老人外出',
      out_device_recovered: '设备已恢复',
      notesLabel: '备注（可选）',
      feedbackLabel: '家属或老人的反馈',
      ratingLegend: '评价（1–5 星）',
      stars: '{n} 星',
      errOutcome: '请选择处理结果',
      errFeedbackEmpty: '请填写反馈或选择评价',
      errRating: '请选择 1–5 星',
      closedDone: '此事件已完成闭环',
      outcomeShown: '处理结果：{o}',
      notesShown: '备注：{n}',
      feedbackShown: '反馈：{f}',
      ratingShown: '评价：{r}',
      queueTitle: '待发送的操作',
      queued: '待发送',
      q_queued: '{action} · 待发送（{time} 操作）',
      q_sending: '{action} · 正在发送（{time} 操作）',
      q_conflict: '{action}（{time} 操作）未被接受：{msg}',
      q_failed: '{action}（{time} 操作）发送失败：{msg}',
      dismiss: '知道了',
      queueCount: '{n} 项操作待发送，联网后自动发送',
      queueProblem: '有操作未被接受，请打开事件查看',
      conflict: '操作未完成：事件状态已变化（{msg}）。已刷新为最新状态。',
      sentLate: '{tapped} 离线操作，{sent} 送达（记录为送达时间）',
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
      dutyOn: 'On duty',
      dutyOff: 'Off duty',
      dutyOnLabel: 'You are on duty: new incidents are paged to you. Tap to end your shift',
      dutyOffLabel: 'You are off duty: new incidents are not paged to you first. Tap to start your shift',
      dutyFailed: 'Could not change your duty: {msg}',
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
      sections: 'Sections',
      incidentsTab: 'Incidents',
      alertsTab: 'Alerts',
      incidentsTitle: 'My open incidents',
      incidentsLabel: 'Incident list',
      noIncidents: 'No open incidents',
      incidentSummary: '{n} open, {u} not yet accepted',
      errLoadIncidents: 'Could not load incidents, retrying…',
      errLoadIncident: 'Could not load the incident, retrying…',
      incidentNotFound: 'Incident not found',
      back: '‹ Back to incidents',
      st_discovered: 'New',
      st_dispatched: 'Paged, not accepted',
      st_accepted: 'Accepted',
      st_on_site: 'On site',
      st_resolved: 'Resolved',
      st_feedback: 'Feedback given',
      st_evaluated: 'Rated',
      stateLabel: 'State',
      openedAgo: 'Opened {time}, {dur} ago',
      openedJustNow: 'Opened {time}, just now',
      conflictState: 'Cannot {action}: the incident is already "{state}"',
      tgt_on_duty: 'on-duty worker',
      tgt_backup: 'backup worker',
      tgt_supervisor: 'supervisor',
      tgt_technician: 'technician',
      inhibited: 'Held: gateway offline',
      openIncident: 'Open incident: {resident}, {causes}',
      announceIncident: 'New incident: {causes}, {resident}, {address}',
      listSep: ', ',
      addressLabel: 'Address',
      evidenceTitle: 'Evidence',
      noEvidence: 'No evidence yet',
      contactTitle: 'Phone',
      contactSelf: 'Resident',
      contactOther: 'Emergency contact',
      call120: 'Ambulance 120',
      call120Label: 'Call the ambulance, 120',
      timelineTitle: 'Timeline',
      stepTitle: 'Next step',
      act_accept: 'Accept',
      act_arrive: 'Arrived',
      act_resolve: 'Resolve',
      act_feedback: 'Feedback',
      act_evaluate: 'Rating',
      act_feedbackSubmit: 'Send feedback and rating',
      act_evaluateSubmit: 'Send rating',
      tl_discovered: 'Incident opened',
      tl_alert_attached: 'Alert added',
      tl_reopened: 'Reopened',
      tl_dispatched: 'Paged',
      tl_escalated: 'Escalated',
      tl_no_target: 'Nobody to page',
      tl_escalation_exhausted: 'Escalation exhausted',
      tl_accept: 'Accepted',
      tl_arrive: 'Arrived',
      tl_resolve: 'Resolved',
      tl_feedback: 'Feedback',
      tl_evaluate: 'Rated',
      tl_inhibited: 'Held',
      tl_uninhibited: 'Released',
      system: 'System',
      outcomeLegend: 'Outcome',
      out_safe: 'Resident safe',
      out_needed_help: 'Needed help, handled',
      out_hospital: 'Taken to hospital',
      out_false_alarm: 'False alarm',
      out_away: 'Resident away',
      out_device_recovered: 'Device recovered',
      notesLabel: 'Notes (optional)',
      feedbackLabel: 'Feedback from family or resident',
      ratingLegend: 'Rating (1–5 stars)',
      stars: '{n} stars',
      errOutcome: 'Please choose an outcome',
      errFeedbackEmpty: 'Write feedback or choose a rating',
      errRating: 'Choose 1 to 5 stars',
      closedDone: 'This incident is closed',
      outcomeShown: 'Outcome: {o}',
      notesShown: 'Notes: {n}',
      feedbackShown: 'Feedback: {f}',
      ratingShown: 'Rating: {r}',
      queueTitle: 'Actions waiting to be sent',
      queued: 'queued',
      q_queued: '{action} · queued (tapped {time})',
      q_sending: '{action} · sending (tapped {time})',
      q_conflict: '{action} (tapped {time}) was refused: {msg}',
      q_failed: '{action} (tapped {time}) failed: {msg}',
      dismiss: 'Dismiss',
      queueCount: '{n} action(s) queued; sent when back online',
      queueProblem: 'An action was refused; open the incident to see why',
      conflict: 'Not done: the incident has changed ({msg}). Showing the latest state.',
      sentLate: 'tapped {tapped} offline, sent at {sent} (recorded at the time sent)',
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
    gen: 0,              // bumped at each log in/out; stale async answers are dropped
    incidents: {},       // id -> Incident (with its timeline once fetched)
    incLoaded: false,
    freshInc: {},        // id -> arrival time, for the highlight
    fetchingInc: {},     // id -> true while fetched because an alert named it
    missing: {},         // id -> true: the server said 404
    contacts: {},        // home id -> residents with their emergency contacts
    route: { name: 'list' },
    incMessage: null,    // {key, vars} shown in #incident-message
    formKey: '',         // incident|step|lang of the step form on screen
    queue: [],           // offline queue (see below)
    sentLate: [],        // steps sent noticeably after they were tapped
    flushing: false,
    flushTimer: 0,
    flushDelay: 3000,
    stepGuard: 0         // step buttons stay disabled until then (double taps)
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
    $('incidents').setAttribute('aria-label', t('incidentsLabel'));
    renderLive();
    renderUser();
    if (state.user) {
      renderAlerts();
      incidentsChanged();
      renderNav();
      renderView();
    }
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
    // Workers start and end their shift here: off duty, the escalation chain
    // pages the backup first instead of them.
    var duty = $('duty-toggle');
    duty.hidden = !(u && u.worker_id && typeof u.on_duty === 'boolean');
    if (duty.hidden) return;
    duty.textContent = t(u.on_duty ? 'dutyOn' : 'dutyOff');
    duty.setAttribute('aria-pressed', u.on_duty ? 'true' : 'false');
    duty.setAttribute('aria-label', t(u.on_duty ? 'dutyOnLabel' : 'dutyOffLabel'));
  }

  function toggleDuty() {
    var u = state.user;
    if (!u || !u.worker_id) return;
    var btn = $('duty-toggle');
    btn.disabled = true;
    var gen = state.gen;
    api('PUT', '/api/v1/workers/' + encodeURIComponent(u.worker_id) + '/duty', { on_duty: !u.on_duty }).then(function (r) {
      if (gen !== state.gen) return;
      btn.disabled = false;
      if (r.status === 200 && r.body && r.body.worker) {
        u.on_duty = !!r.body.worker.on_duty;
        $('user-status').textContent = '';
      } else {
        var msg = r.body && r.body.error && r.body.error.message ? r.body.error.message : String(r.status);
        $('user-status').textContent = t('dutyFailed', { msg: msg });
      }
      renderUser();
    }, function () {
      if (gen !== state.gen) return;
      btn.disabled = false;
      $('user-status').textContent = t('dutyFailed', { msg: t('errNetwork') });
    });
  }

  function show(view) {
    $('loading').hidden = view !== 'loading';
    $('login-view').hidden = view !== 'login';
    $('app-view').hidden = view !== 'app';
    // The lists themselves too (hooks of the tests and of assistive tech).
    $('incidents-view').hidden = view !== 'app';
    $('alerts-view').hidden = view !== 'app';
    $('logout').hidden = view !== 'app';
    $('live-status').hidden = view !== 'app';
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
    $('alert-count').textContent = active ? '(' + active + ')' : '';
    if (state.route.name === 'list') document.title = active ? t('titleCount', { n: active }) : '守望 Shouwang';
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
    alerts.forEach(noticeAlertIncident);
    renderAlerts();
    if (state.route.name === 'incident') renderIncidentPage();
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

  // body is sent as JSON, or as it is when contentType names another type (CSV).
  function api(method, path, body, contentType) {
    var opts = {
      method: method,
      credentials: 'same-origin',
      headers: { 'Accept': 'application/json' }
    };
    if (body !== undefined) {
      opts.headers['Content-Type'] = contentType || 'application/json';
      opts.body = contentType ? body : JSON.stringify(body);
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

  // -------------------------------------------------------------- incidents

  var OPEN_STATES = { discovered: true, dispatched: true, accepted: true, on_site: true };
  var UNACCEPTED = { discovered: true, dispatched: true };
  // The state each closed-loop step leads to (as the server's transitions).
  var STEP_TO = { accept: 'accepted', arrive: 'on_site', resolve: 'resolved', feedback: 'feedback', evaluate: 'evaluated' };
  var OUTCOMES = ['safe', 'needed_help', 'hospital', 'false_alarm', 'away'];
  var LS_QUEUE = 'shouwang.queue';
  var LS_SENT = 'shouwang.sentLate';

  function openedMs(inc) {
    var d = parseTime(inc.opened_at);
    return d ? d.getTime() : 0;
  }

  // Critical first, then the ones nobody accepted yet, oldest first.
  function sortedIncidents() {
    var list = Object.keys(state.incidents).map(function (id) { return state.incidents[id]; })
      .filter(function (i) { return OPEN_STATES[i.state]; });
    list.sort(function (a, b) {
      var ca = a.severity === 'critical' ? 0 : 1;
      var cb = b.severity === 'critical' ? 0 : 1;
      if (ca !== cb) return ca - cb;
      var ua = UNACCEPTED[a.state] ? 0 : 1;
      var ub = UNACCEPTED[b.state] ? 0 : 1;
      if (ua !== ub) return ua - ub;
      var s = sevRank(a.severity) - sevRank(b.severity);
      if (s) return s;
      return openedMs(a) - openedMs(b);
    });
    return list;
  }

  function causesText(inc) {
    var rules = Array.isArray(inc.rules) && inc.rules.length ? inc.rules : [];
    return rules.map(ruleName).join(t('listSep'));
  }

  function sinceText(inc) {
    var ms = openedMs(inc);
    if (!ms) return '';
    var secs = (Date.now() - ms) / 1000;
    if (secs < 60) return t('openedJustNow', { time: formatTime(inc.opened_at) });
    return t('openedAgo', { time: formatTime(inc.opened_at), dur: formatDuration(secs) });
  }

  function sevOf(inc) { return sevRank(inc.severity) < 3 ? inc.severity : 'info'; }

  function stateBadge(st) {
    return h('span', { class: 'badge badge-state state-' + st, dataset: { state: st }, text: t('st_' + st) });
  }

  function callLink(name, phone) {
    return h('a', {
      class: 'call-link',
      href: telHref(phone),
      'aria-label': t('callLabel', { name: name || '', phone: prettyPhone(phone) })
    }, h('span', { 'aria-hidden': 'true', text: '☎' }), t('call') + ' ' + prettyPhone(phone));
  }

  function assigneeRow(inc) {
    var as = inc.assignee;
    return h('div', { class: 'assignee' },
      h('span', { class: 'assignee-label', text: t('assignee') }),
      as && as.name
        ? h('span', { class: 'assignee-name', text: as.name })
        : h('span', { class: 'assignee-name unassigned', text: t('unassigned') }),
      as && as.phone ? callLink(as.name, as.phone) : null);
  }

  function inhibitedNote(inc) {
    return inc.inhibited ? h('p', { class: 'inhibited-note', text: t('inhibited') }) : null;
  }

  function renderIncidentCard(inc) {
    var sev = sevOf(inc);
    var st = projectedState(inc);
    var titleId = 'inc-title-' + String(inc.id).replace(/[^\w-]/g, '_');
    var pending = queueFor(inc.id).length;
    var link = h('a', {
      class: 'incident-link',
      href: '#incident/' + encodeURIComponent(inc.id),
      'aria-label': t('openIncident', { resident: inc.resident || '', causes: causesText(inc) })
    }, causesText(inc) || ruleName(inc.class));
    var li = h('li', {
      class: 'incident-card sev-' + sev + (state.freshInc[inc.id] ? ' is-new' : ''),
      'aria-labelledby': titleId,
      dataset: { incidentId: inc.id, state: inc.state, severity: sev }
    }, h('article', null,
      h('div', { class: 'card-head' },
        h('h3', { class: 'rule-name', id: titleId }, link),
        h('span', { class: 'badge badge-' + sev + ' severity', text: t('sev_' + sev) }),
        stateBadge(st),
        pending ? h('span', { class: 'badge badge-queued', text: t('queued') }) : null),
      inhibitedNote(inc),
      h('div', { class: 'who' },
        inc.resident ? h('p', { class: 'resident', text: inc.resident }) : null,
        inc.address ? h('p', { class: 'address', text: inc.address }) : null),
      h('p', { class: 'since', text: sinceText(inc) }),
      assigneeRow(inc)));
    return li;
  }

  function renderIncidents() {
    var box = $('incidents');
    var list = sortedIncidents();
    box.textContent = '';
    var unaccepted = list.filter(function (i) { return UNACCEPTED[i.state]; }).length;
    if (!list.length) {
      box.appendChild(h('p', { class: state.incLoaded ? 'alerts-empty incidents-empty' : 'notice', text: t(state.incLoaded ? 'noIncidents' : 'loading') }));
      $('incident-summary').textContent = '';
    } else {
      var ol = h('ol', { class: 'incident-list' });
      list.forEach(function (i) { ol.appendChild(renderIncidentCard(i)); });
      box.appendChild(ol);
      $('incident-summary').textContent = t('incidentSummary', { n: list.length, u: unaccepted });
    }
    $('incident-count').textContent = list.length ? '(' + list.length + ')' : '';
    renderQueueStatus();
  }

  function announceIncident(inc) {
    var el = $('incident-announcer');
    var line = h('p', { text: t('announceIncident', { causes: causesText(inc), resident: inc.resident || '', address: inc.address || '' }) });
    el.appendChild(line);
    while (el.childNodes.length > 3) el.removeChild(el.firstChild);
    window.setTimeout(function () { if (line.parentNode === el) el.removeChild(line); }, 15000);
  }

  // Insert or replace one incident (an SSE event, a list or a detail answer).
  // A list entry has no timeline: keep the one we have.
  function upsertIncident(inc, quiet) {
    if (!inc || !inc.id) return;
    var old = state.incidents[inc.id];
    if (old && !inc.timeline && old.timeline) inc.timeline = old.timeline;
    if (old && parseTime(old.updated_at) && parseTime(inc.updated_at) &&
        parseTime(inc.updated_at).getTime() < parseTime(old.updated_at).getTime()) return; // stale
    state.incidents[inc.id] = inc;
    if (!old && !quiet && OPEN_STATES[inc.state]) {
      state.freshInc[inc.id] = Date.now();
      window.setTimeout(function () { delete state.freshInc[inc.id]; }, HIGHLIGHT_MS);
      announceIncident(inc);
    }
  }

  function incidentsChanged() {
    renderIncidents();
    if (state.route.name === 'incident') renderIncidentPage();
  }

  var incRetry = 0;
  function loadIncidents() {
    var gen = state.gen;
    return api('GET', '/api/v1/incidents?open=1').then(function (r) {
      if (gen !== state.gen) return;
      if (r.status === 401) { loggedOut(); return; }
      if (r.status !== 200 || !r.body || !Array.isArray(r.body.incidents)) throw new Error('status ' + r.status);
      var first = !state.incLoaded;
      var seen = {};
      r.body.incidents.forEach(function (i) { seen[i.id] = true; upsertIncident(i, first); });
      // Closed while we were away: drop from the open list unless it is on screen.
      Object.keys(state.incidents).forEach(function (id) {
        if (!seen[id] && OPEN_STATES[state.incidents[id].state] && !(state.route.name === 'incident' && state.route.id === id)) delete state.incidents[id];
      });
      state.incLoaded = true;
      $('incidents').setAttribute('aria-busy', 'false');
      incidentsChanged();
    }).catch(function () {
      if (!state.user || gen !== state.gen) return;
      if (!state.incLoaded) $('incident-summary').textContent = t('errLoadIncidents');
      window.clearTimeout(incRetry);
      incRetry = window.setTimeout(function () { if (state.user) loadIncidents(); }, 5000);
    });
  }

  var detailRetry = 0;
  function loadIncident(id) {
    var gen = state.gen;
    return api('GET', '/api/v1/incidents/' + encodeURIComponent(id)).then(function (r) {
      if (gen !== state.gen) return;
      if (r.status === 401) { loggedOut(); return; }
      if (r.status === 404) { state.missing[id] = true; incidentsChanged(); return; }
      if (r.status !== 200 || !r.body || !r.body.incident) throw new Error('status ' + r.status);
      delete state.missing[id];
      upsertIncident(r.body.incident, true);
      incidentsChanged();
      if (state.route.name === 'incident' && state.route.id === id) loadContacts(r.body.incident);
    }).catch(function () {
      if (!state.user || gen !== state.gen) return;
      if (state.route.name === 'incident' && state.route.id === id && !state.incidents[id]) {
        showIncidentMessage('errLoadIncident');
      }
      window.clearTimeout(detailRetry);
      detailRetry = window.setTimeout(function () {
        if (state.user && state.route.name === 'incident' && state.route.id === id) loadIncident(id);
      }, 5000);
    });
  }

  // An alert that belongs to an incident we do not know yet (its incident event
  // may come later, or was dropped): fetch it.
  function noticeAlertIncident(a) {
    var id = a && a.incident_id;
    // Before the list arrived it will bring the open ones; cleared alerts'
    // incidents are not worth a request each.
    if (!id || !state.incLoaded || a.state === 'cleared' || state.incidents[id] || state.fetchingInc[id]) return;
    state.fetchingInc[id] = true;
    var gen = state.gen;
    api('GET', '/api/v1/incidents/' + encodeURIComponent(id)).then(function (r) {
      delete state.fetchingInc[id];
      if (gen !== state.gen || r.status !== 200 || !r.body || !r.body.incident) return;
      upsertIncident(r.body.incident, !state.incLoaded);
      incidentsChanged();
    }, function () { delete state.fetchingInc[id]; });
  }

  // ----------------------------------------------------------- incident page

  function showIncidentMessage(key, vars) {
    state.incMessage = key ? { key: key, vars: vars } : null;
    var el = $('incident-message');
    el.textContent = key ? t(key, vars && vars.err ? { msg: messageText(vars.err) } : vars) : '';
    el.hidden = !key;
  }

  function alertsOf(id) {
    return Object.keys(state.alerts).map(function (k) { return state.alerts[k]; })
      .filter(function (a) { return a.incident_id === id; })
      .sort(function (a, b) { return timeOf(a) - timeOf(b); });
  }

  function sectionEl(cls, titleKey) {
    return h('section', { class: 'inc-section ' + cls }, h('h3', { class: 'inc-section-title', text: t(titleKey) }));
  }

  function evidenceSection(inc) {
    var sec = sectionEl('inc-evidence', 'evidenceTitle');
    var alerts = alertsOf(inc.id);
    if (!alerts.length) { sec.appendChild(h('p', { class: 'muted', text: t('noEvidence') })); return sec; }
    var ul = h('ul', { class: 'evidence-alerts' });
    alerts.forEach(function (a) {
      var ev = h('ul', { class: 'evidence' });
      (a.evidence || []).forEach(function (e) {
        if (e && e.signal) ev.appendChild(h('li', { dataset: { signal: e.signal }, text: evidenceText(e) }));
      });
      ul.appendChild(h('li', { class: 'evidence-alert', dataset: { rule: a.rule || '', state: a.state || '' } },
        h('p', { class: 'evidence-rule' }, h('strong', { text: ruleName(a.rule) }), ' · ' + formatTime(a.raised_at || a.received_at),
          a.state === 'cleared' ? ' · ' + t('cleared') : ''),
        ev.childNodes.length ? ev : null));
    });
    sec.appendChild(ul);
    return sec;
  }

  // The resident's own phone and their emergency contacts in calling order, when
  // the resident lets this role see them (the server decides; 404 shows none).
  function residentContacts(inc) {
    var list = state.contacts[inc.home_id];
    if (!list || !list.length) return null;
    var ol = h('ol', { class: 'contact-list' });
    list.forEach(function (r) {
      if (r.phone) {
        ol.appendChild(h('li', { class: 'assignee contact' },
          h('span', { class: 'assignee-label', text: t('contactSelf') }),
          h('span', { class: 'assignee-name', text: r.name }),
          callLink(r.name, r.phone)));
      }
      (r.contacts || []).forEach(function (c) {
        ol.appendChild(h('li', { class: 'assignee contact' },
          h('span', { class: 'assignee-label', text: c.relation || t('contactOther') }),
          h('span', { class: 'assignee-name', text: c.name }),
          c.phone ? callLink(c.name, c.phone) : null));
      });
    });
    return ol.childNodes.length ? ol : null;
  }

  function loadContacts(inc) {
    if (inc.class !== 'resident' || !inc.home_id) return;
    var gen = state.gen;
    api('GET', '/api/v1/homes/' + encodeURIComponent(inc.home_id) + '/contacts').then(function (r) {
      if (gen !== state.gen || r.status !== 200 || !r.body) return;
      state.contacts[inc.home_id] = r.body.residents || [];
      if (state.route.name === 'incident') renderIncidentPage();
    }, function () { /* the page works without; the next open retries */ });
  }

  function contactSection(inc) {
    var sec = sectionEl('inc-contact', 'contactTitle');
    sec.appendChild(assigneeRow(inc));
    var rc = residentContacts(inc);
    if (rc) sec.appendChild(rc);
    sec.appendChild(h('div', { class: 'assignee' },
      h('a', { class: 'call-link call-120', href: 'tel:120', 'aria-label': t('call120Label') },
        h('span', { 'aria-hidden': 'true', text: '☎' }), t('call120'))));
    return sec;
  }

  function timelineDetail(ev) {
    var d = ev.detail || '';
    switch (ev.action) {
      case 'resolve': return d ? t('out_' + d) : '';
      case 'evaluate': return d ? stars(Number(d)) : '';
      case 'discovered': case 'alert_attached': case 'reopened': return d ? ruleName(d) : '';
      case 'dispatched': case 'escalated': case 'no_target': return targetText(d);
      default: return d;
    }
  }

  // "on_duty 李网格员 (w-1)" -> "值班网格员 李网格员"
  function targetText(d) {
    var m = /^(\w+)(?: (.*?))?(?: \(([^)]*)\))?$/.exec(d || '');
    if (!m || !Object.prototype.hasOwnProperty.call(I18N['zh-CN'], 'tgt_' + m[1])) return d || '';
    return t('tgt_' + m[1]) + (m[2] ? ' ' + m[2] : '');
  }

  function stars(n) {
    n = Math.max(0, Math.min(5, Math.floor(n) || 0));
    return '★★★★★'.slice(0, n) + '☆☆☆☆☆'.slice(0, 5 - n) + ' (' + t('stars', { n: n }) + ')';
  }

  function sentLateNote(incId, ev) {
    var rec = state.sentLate.filter(function (r) { return r.incident === incId && r.action === ev.action && r.sent === ev.at; })[0];
    return rec ? h('p', { class: 'sent-late', text: t('sentLate', { tapped: formatTime(rec.tapped), sent: formatTime(rec.sent) }) }) : null;
  }

  function timelineSection(inc) {
    var sec = sectionEl('inc-timeline', 'timelineTitle');
    var ol = h('ol', { class: 'timeline' });
    (inc.timeline || []).forEach(function (ev) {
      var actor = ev.actor === 'system' ? t('system') : ev.actor;
      var label = Object.prototype.hasOwnProperty.call(I18N['zh-CN'], 'tl_' + ev.action) ? t('tl_' + ev.action) : ev.action;
      var detail = timelineDetail(ev);
      ol.appendChild(h('li', { dataset: { action: ev.action, actor: ev.actor || '', at: ev.at || '' } },
        h('time', { class: 'tl-time', datetime: ev.at || '', text: formatTime(ev.at) }),
        h('p', { class: 'tl-what' }, h('strong', { text: label }), ' · ' + actor),
        detail ? h('p', { class: 'tl-detail', text: detail }) : null,
        sentLateNote(inc.id, ev)));
    });
    sec.appendChild(ol);
    return sec;
  }

  function outcomeSummary(inc) {
    var box = h('div', { class: 'outcome-summary' });
    if (inc.outcome) box.appendChild(h('p', { text: t('outcomeShown', { o: t('out_' + inc.outcome) }) }));
    if (inc.notes) box.appendChild(h('p', { text: t('notesShown', { n: inc.notes }) }));
    if (inc.feedback) box.appendChild(h('p', { text: t('feedbackShown', { f: inc.feedback }) }));
    if (inc.rating) box.appendChild(h('p', { text: t('ratingShown', { r: stars(inc.rating) }) }));
    return box.childNodes.length ? box : null;
  }

  function queueSection(inc) {
    var entries = state.queue.filter(function (e) { return e.incident === inc.id; });
    if (!entries.length) return null;
    var sec = sectionEl('inc-queue', 'queueTitle');
    var ul = h('ul', { id: 'incident-queue', class: 'queue-list' });
    entries.forEach(function (e) {
      var vars = { action: t('act_' + e.action), time: formatTime(e.at), msg: messageText(e.error) };
      var li = h('li', { class: 'queue-entry', dataset: { status: e.status, action: e.action, qid: e.qid } },
        h('p', { text: t('q_' + e.status, vars) }));
      if (e.status === 'conflict' || e.status === 'failed') {
        li.appendChild(h('button', { type: 'button', class: 'secondary-btn', dataset: { dismiss: e.qid }, text: t('dismiss') }));
      }
      ul.appendChild(li);
    });
    sec.appendChild(ul);
    return sec;
  }

  // The state the incident will be in once our queued actions are through.
  function projectedState(inc) {
    var st = inc.state;
    queueFor(inc.id).forEach(function (e) { st = STEP_TO[e.action] || st; });
    return st;
  }

  var PARTS = ['head', 'queue', 'step', 'evidence', 'contact', 'timeline'];

  function box(page, part) {
    var el = page.querySelector(':scope > [data-part="' + part + '"]');
    if (el) return el;
    if (page.querySelector(':scope > .notice')) page.textContent = '';
    PARTS.forEach(function (p) {
      if (!page.querySelector(':scope > [data-part="' + p + '"]')) page.appendChild(h('div', { class: 'part part-' + p, dataset: { part: p } }));
    });
    return page.querySelector(':scope > [data-part="' + part + '"]');
  }

  function fill(el, child) {
    el.textContent = '';
    if (child) el.appendChild(child);
  }

  function renderIncidentPage() {
    var id = state.route.id;
    var page = $('incident-page');
    var inc = state.incidents[id];
    $('incident-view').dataset.incidentId = id;
    if (!inc) {
      page.textContent = '';
      state.formKey = '';
      page.appendChild(h('p', { class: 'notice', text: t(state.missing[id] ? 'incidentNotFound' : 'loading') }));
      return;
    }
    var sev = sevOf(inc);
    var st = projectedState(inc);
    $('incident-view').dataset.state = inc.state;
    var head = h('header', { class: 'inc-head sev-' + sev },
      h('h2', { id: 'incident-title', class: 'inc-title', text: causesText(inc) || ruleName(inc.class) }),
      h('div', { class: 'card-head' },
        h('span', { class: 'badge badge-' + sev + ' severity', text: t('sev_' + sev) }),
        stateBadge(st)),
      inhibitedNote(inc),
      h('div', { class: 'who' },
        inc.resident ? h('p', { class: 'resident', text: inc.resident }) : null,
        inc.address ? h('p', { class: 'address' }, h('span', { class: 'visually-hidden', text: t('addressLabel') + ' ' }), inc.address) : null),
      h('p', { class: 'since', text: sinceText(inc) }),
      outcomeSummary(inc));
    // Each part has its own box; the step form is only rebuilt when the step
    // changes, so a live update never takes away what is being typed (or the focus).
    fill(box(page, 'head'), head);
    fill(box(page, 'queue'), queueSection(inc));
    var form = stepForm(inc, st);
    var stepBox = box(page, 'step');
    if (form.parentNode !== stepBox) fill(stepBox, form);
    fill(box(page, 'evidence'), evidenceSection(inc));
    fill(box(page, 'contact'), contactSection(inc));
    fill(box(page, 'timeline'), timelineSection(inc));
    if (state.incMessage) showIncidentMessage(state.incMessage.key, state.incMessage.vars);
    document.title = (inc.resident || '') + ' · 守望 Shouwang';
  }

  // --------------------------------------------------------------- steps

  function stepButton(action, label) {
    return h('button', { type: 'submit', class: 'step-btn', dataset: { action: action }, text: label });
  }

  function radio(name, value, label, extra, ariaLabel) {
    var id = name + '-' + value;
    return h('label', { class: 'choice' + (extra || ''), for: id },
      h('input', { type: 'radio', id: id, name: name, value: value, 'aria-label': ariaLabel }),
      h('span', { text: label, 'aria-hidden': ariaLabel ? 'true' : null }));
  }

  function fieldArea(id, labelKey) {
    return h('div', { class: 'field' },
      h('label', { for: id, text: t(labelKey) }),
      h('textarea', { id: id, name: id, rows: '3', maxlength: '600' }));
  }

  function ratingFieldset() {
    var fs = h('fieldset', { class: 'choices stars-choices' }, h('legend', { text: t('ratingLegend') }));
    for (var n = 1; n <= 5; n++) {
      fs.appendChild(radio('rating', String(n), '★'.repeat(n), ' star-choice', t('stars', { n: n })));
    }
    return fs;
  }

  function buildStepForm(st) {
    var form = h('form', { id: 'step-form', class: 'step-form', novalidate: true, dataset: { step: st } });
    var title = h('h3', { class: 'inc-section-title', text: t('stepTitle') });
    form.appendChild(title);
    var err = h('p', { id: 'step-error', class: 'login-error', role: 'alert', hidden: true });
    if (UNACCEPTED[st]) form.appendChild(stepButton('accept', t('act_accept')));
    else if (st === 'accepted') form.appendChild(stepButton('arrive', t('act_arrive')));
    else if (st === 'on_site') {
      var fs = h('fieldset', { class: 'choices' }, h('legend', { text: t('outcomeLegend') }));
      OUTCOMES.forEach(function (o) { fs.appendChild(radio('outcome', o, t('out_' + o))); });
      form.appendChild(fs);
      form.appendChild(fieldArea('resolve-notes', 'notesLabel'));
      form.appendChild(err);
      form.appendChild(stepButton('resolve', t('act_resolve')));
    } else if (st === 'resolved') {
      form.appendChild(fieldArea('feedback-text', 'feedbackLabel'));
      form.appendChild(ratingFieldset());
      form.appendChild(err);
      form.appendChild(stepButton('feedback', t('act_feedbackSubmit')));
    } else if (st === 'feedback') {
      form.appendChild(ratingFieldset());
      form.appendChild(err);
      form.appendChild(stepButton('evaluate', t('act_evaluateSubmit')));
    } else {
      form.appendChild(h('p', { class: 'closed-note', text: t('closedDone') }));
    }
    form.addEventListener('submit', onStepSubmit);
    guardDoubleTap(form.querySelector('.step-btn'));
    return form;
  }

  // The next step's button appears where the last one was tapped: a double
  // tap must not take two steps. It stays disabled for a moment.
  var DOUBLE_TAP_MS = 700;
  function guardDoubleTap(btn) {
    var wait = state.stepGuard - Date.now();
    if (!btn || wait <= 0) return;
    btn.disabled = true;
    window.setTimeout(function () { btn.disabled = false; }, wait);
  }

  function formValues(form) {
    var v = {};
    if (!form) return v;
    Array.prototype.forEach.call(form.querySelectorAll('textarea'), function (el) { v[el.id] = el.value; });
    Array.prototype.forEach.call(form.querySelectorAll('input[type=radio]:checked'), function (el) { v[el.name] = el.value; });
    return v;
  }

  function restoreValues(form, v) {
    Object.keys(v).forEach(function (k) {
      var area = form.querySelector('textarea#' + k);
      if (area) { area.value = v[k]; return; }
      var r = form.querySelector('input[name="' + k + '"][value="' + v[k] + '"]');
      if (r) r.checked = true;
    });
  }

  // Rebuilt only when the step or the language changes; otherwise the same
  // element (with what was typed, and the focus) is put back.
  function stepForm(inc, st) {
    var key = inc.id + '|' + st + '|' + state.lang;
    var old = $('step-form');
    if (old && state.formKey === key) return old;
    var keep = old && state.formKey.split('|')[0] === inc.id && state.formKey.split('|')[1] === st ? formValues(old) : {};
    var form = buildStepForm(st);
    restoreValues(form, keep);
    state.formKey = key;
    return form;
  }

  function stepError(key) {
    var el = $('step-error');
    if (!el) return;
    el.textContent = key ? t(key) : '';
    el.hidden = !key;
    // Take the worker to what is missing (the error is announced as an alert).
    var first = key && el.parentNode.querySelector('input, textarea');
    if (first) first.focus();
  }

  function onStepSubmit(e) {
    e.preventDefault();
    var form = e.target;
    var inc = state.incidents[state.route.id];
    if (!inc) return;
    var v = formValues(form);
    var st = form.dataset.step;
    stepError('');
    showIncidentMessage('');
    if (UNACCEPTED[st]) enqueue(inc.id, 'accept', {});
    else if (st === 'accepted') enqueue(inc.id, 'arrive', {});
    else if (st === 'on_site') {
      if (!v.outcome) { stepError('errOutcome'); return; }
      enqueue(inc.id, 'resolve', { outcome: v.outcome, notes: (v['resolve-notes'] || '').trim() });
    } else if (st === 'resolved') {
      var fb = (v['feedback-text'] || '').trim();
      if (!fb && !v.rating) { stepError('errFeedbackEmpty'); return; }
      if (fb) enqueue(inc.id, 'feedback', { feedback: fb });
      if (v.rating) enqueue(inc.id, 'evaluate', { rating: Number(v.rating) });
    } else if (st === 'feedback') {
      if (!v.rating) { stepError('errRating'); return; }
      enqueue(inc.id, 'evaluate', { rating: Number(v.rating) });
    }
    state.formKey = '';
    state.stepGuard = Date.now() + DOUBLE_TAP_MS;
    incidentsChanged();
    var next = $('step-form');
    if (next) {
      var btn = next.querySelector('.step-btn, textarea, input');
      if (btn) btn.focus();
    }
    flushQueue();
  }

  // ------------------------------------------------------------ offline queue
  //
  // Every step goes through this queue, kept in localStorage with the time it
  // was tapped, and is sent in order. Without network it waits (待发送 /
  // queued) and goes out when the browser is back online, or on a retry timer.
  // A refusal (409 conflict, 4xx) is shown and dropped from the sending, never
  // retried. The server stamps the time it received the step.

  function loadQueue() {
    try { state.queue = JSON.parse(storageGet(LS_QUEUE) || '[]') || []; } catch (e) { state.queue = []; }
    try { state.sentLate = JSON.parse(storageGet(LS_SENT) || '[]') || []; } catch (e) { state.sentLate = []; }
    // A "sending" left by a closed page is unknown: send again (a duplicate is
    // answered with a 409, which is then shown).
    state.queue.forEach(function (e) { if (e.status === 'sending') e.status = 'queued'; });
  }

  function saveQueue() {
    storageSet(LS_QUEUE, JSON.stringify(state.queue));
    storageSet(LS_SENT, JSON.stringify(state.sentLate.slice(-50)));
  }

  function queueFor(id) {
    return state.queue.filter(function (e) { return e.incident === id && (e.status === 'queued' || e.status === 'sending'); });
  }

  function enqueue(incident, action, body) {
    state.queue.push({
      qid: Date.now().toString(36) + Math.random().toString(36).slice(2, 7),
      incident: incident, action: action, body: body,
      at: new Date().toISOString(), user: state.user ? state.user.username : '',
      status: 'queued', tries: 0
    });
    saveQueue();
  }

  function renderQueueStatus() {
    var el = $('queue-status');
    var waiting = state.queue.filter(function (e) { return e.status === 'queued' || e.status === 'sending'; }).length;
    var problems = state.queue.filter(function (e) { return e.status === 'conflict' || e.status === 'failed'; }).length;
    var text = waiting ? t('queueCount', { n: waiting }) : '';
    if (problems) text += (text ? ' ' : '') + t('queueProblem');
    el.textContent = text;
    el.hidden = !text;
    el.dataset.waiting = String(waiting);
  }

  function queueChanged() {
    saveQueue();
    incidentsChanged();
  }

  function scheduleFlush() {
    window.clearTimeout(state.flushTimer);
    state.flushTimer = window.setTimeout(flushQueue, state.flushDelay);
    state.flushDelay = Math.min(state.flushDelay * 2, 30000);
  }

  // The API's conflict reads "… cannot evaluate an incident that is evaluated …":
  // kept as keys, to be said in the user's language; other messages as they come.
  function serverMessage(r) {
    var msg = r.body && r.body.error && r.body.error.message ? r.body.error.message : 'HTTP ' + r.status;
    var m = /cannot (\w+) an incident that is (\w+)/.exec(msg);
    if (m && STEP_TO[m[1]] && Object.prototype.hasOwnProperty.call(I18N['zh-CN'], 'st_' + m[2])) {
      return { key: 'conflictState', action: 'act_' + m[1], state: 'st_' + m[2] };
    }
    return { text: msg };
  }

  function messageText(err) {
    if (!err) return '';
    if (typeof err === 'string') return err;
    if (err.key) return t(err.key, { action: t(err.action), state: t(err.state) });
    return err.text || '';
  }

  // Sends the first queued entry of this user, then the next, one at a time.
  function flushQueue() {
    if (state.flushing || !state.user) return;
    var me = state.user.username;
    var e = state.queue.filter(function (q) { return q.status === 'queued' && q.user === me; })[0];
    if (!e) return;
    state.flushing = true;
    e.status = 'sending';
    e.tries++;
    queueChanged();
    var gen = state.gen;
    var done = function () { state.flushing = false; };
    api('POST', '/api/v1/incidents/' + encodeURIComponent(e.incident) + '/' + e.action, e.body).then(function (r) {
      done();
      if (r.status === 200 && r.body && r.body.incident) {
        sent(e, r.body.incident);
      } else if (r.status === 401) {
        e.status = 'queued';
        queueChanged();
        if (gen === state.gen) loggedOut();
        return;
      } else if (r.status === 409 || (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429)) {
        refused(e, r);
      } else {
        throw new Error('status ' + r.status); // 5xx, 408, 429: try again later
      }
      state.flushDelay = 3000;
      flushQueue();
    }).catch(function () {
      done();
      if (e.status === 'sending') e.status = 'queued';
      queueChanged();
      scheduleFlush();
    });
  }

  function sent(e, inc) {
    state.queue = state.queue.filter(function (q) { return q !== e; });
    // The server stamped its receipt: when the step waited in the queue (a
    // failed try, or noticeably later), remember when it was tapped, to show both.
    var evs = (inc.timeline || []).filter(function (ev) { return ev.action === e.action; });
    var last = evs[evs.length - 1];
    if (last && parseTime(last.at) && (e.tries > 1 || parseTime(last.at).getTime() - parseTime(e.at).getTime() > 30000)) {
      state.sentLate.push({ incident: e.incident, action: e.action, tapped: e.at, sent: last.at });
    }
    upsertIncident(inc, true);
    queueChanged();
  }

  function refused(e, r) {
    e.status = r.status === 409 ? 'conflict' : 'failed';
    e.error = serverMessage(r);
    // Whatever else we queued for this incident would follow from a step that
    // did not happen: it stays queued and is refused in turn, so it shows too.
    if (state.route.name === 'incident' && state.route.id === e.incident) {
      showIncidentMessage('conflict', { err: e.error });
    }
    queueChanged();
    loadIncident(e.incident);
  }

  function dismissQueued(qid) {
    state.queue = state.queue.filter(function (q) { return q.qid !== qid; });
    showIncidentMessage('');
    queueChanged();
  }

  // ------------------------------------------------------------- extra views
  //
  // Views for other roles (family.js, console.js) live in their own files and
  // register through window.ShouwangViews, so each can change without touching
  // the grid worker's app. A view is {name, pattern, roles, tabKey, landing,
  // render(el, params)}: pattern matches location.hash (groups are params);
  // landing means the roles in it start there instead of the incident list
  // (true: all its roles; a list: only those).

  var views = [];

  function matchView(hash) {
    for (var i = 0; i < views.length; i++) {
      var v = views[i];
      if (!state.user || v.roles.indexOf(state.user.role) < 0) continue;
      var m = v.pattern.exec(hash);
      if (!m) continue;
      var params = [];
      for (var j = 1; j < m.length; j++) {
        var p = m[j];
        try { p = p === undefined ? p : decodeURIComponent(p); } catch (e) { /* keep raw */ }
        params.push(p);
      }
      return { name: 'view', view: v, params: params };
    }
    return null;
  }

  function landingView() {
    for (var i = 0; i < views.length; i++) {
      var l = views[i].landing;
      var roles = Array.isArray(l) ? l : (l ? views[i].roles : []);
      if (roles.indexOf(state.user.role) >= 0) return views[i];
    }
    return null;
  }

  // Role tabs: the worker's incident list, and each view with a tab for this role.
  function renderNav() {
    var nav = $('role-nav');
    nav.textContent = '';
    if (!state.user) { nav.hidden = true; return; }
    var mine = views.filter(function (v) { return v.tabKey && v.roles.indexOf(state.user.role) >= 0; });
    nav.hidden = !mine.length;
    if (!mine.length) return;
    var cur = state.route.name === 'view' ? state.route.view.name : 'incidents';
    var landing = landingView();
    if (!landing || landing.listTab !== false) {
      nav.appendChild(h('a', { class: 'tab', href: '#incidents-view', 'aria-current': cur === 'incidents' ? 'page' : null, text: t('incidentsTab') }));
    }
    mine.forEach(function (v) {
      nav.appendChild(h('a', { class: 'tab', href: v.href, 'aria-current': cur === v.name ? 'page' : null, text: t(v.tabKey) }));
    });
  }

  function renderView() {
    var r = state.route;
    if (r.name !== 'view' || !state.user) return;
    r.view.render($('ext-view'), r.params);
  }

  var listeners = { incident: [], alert: [], notification: [] };
  function emit(kind, obj) {
    listeners[kind].forEach(function (fn) { try { fn(obj); } catch (e) { /* one view must not break another */ } });
  }

  var sw = {
    api: api,
    t: function (k, v) { return t(k, v); },
    h: h,
    lang: function () { return state.lang; },
    user: function () { return state.user; },
    gen: function () { return state.gen; },
    formatTime: function (s) { return formatTime(s); },
    formatDuration: function (sec) { return formatDuration(sec); },
    ruleName: function (c) { return ruleName(c); },
    stateName: function (st) { return t('st_' + st); },
    telHref: telHref,
    prettyPhone: prettyPhone,
    // The incident page's parts, so other roles show an incident the same way.
    causes: function (inc) { return causesText(inc); },
    since: function (inc) { return sinceText(inc); },
    stateBadge: function (st) { return stateBadge(st); },
    assigneeRow: function (inc) { return assigneeRow(inc); },
    outcomeSummary: function (inc) { return outcomeSummary(inc); },
    timeline: function (inc) { return timelineSection(inc); },
    ratingFieldset: function () { return ratingFieldset(); },
    announce: function (text) { announce(text); },
    // Strings are merged into the app's tables; zh-CN first, en second.
    strings: function (tables) {
      Object.keys(tables).forEach(function (lang) {
        if (!I18N[lang]) return;
        Object.keys(tables[lang]).forEach(function (k) { I18N[lang][k] = tables[lang][k]; });
      });
    },
    view: function (v) {
      if (!v.href) v.href = '#' + v.name;
      views.push(v);
    },
    on: function (kind, fn) { listeners[kind].push(fn); },
    rerender: function () { renderView(); }
  };

  function loadViews() {
    var regs = window.ShouwangViews || [];
    regs.forEach(function (fn) { fn(sw); });
    // Later registrations (scripts loaded after us) still work.
    window.ShouwangViews = { push: function (fn) { fn(sw); } };
  }

  // ------------------------------------------------------------------ routes

  function parseRoute() {
    var hash = window.location.hash || '';
    var ext = matchView(hash);
    if (ext) return ext;
    if (!hash && state.user) {
      var landing = landingView();
      if (landing) return { name: 'view', view: landing, params: [] };
    }
    var m = /^#incident\/(.+)$/.exec(hash);
    if (!m) return { name: 'list' };
    var id;
    try { id = decodeURIComponent(m[1]); } catch (e) { id = m[1]; }
    return { name: 'incident', id: id };
  }

  function applyRoute(focus) {
    var prev = state.route;
    state.route = parseRoute();
    var onIncident = state.route.name === 'incident';
    var onView = state.route.name === 'view';
    $('list-view').hidden = onIncident || onView;
    $('incident-view').hidden = !onIncident;
    $('ext-view').hidden = !onView;
    renderNav();
    if (onView) {
      showIncidentMessage('');
      renderView();
      if (focus) window.scrollTo(0, 0);
      return;
    }
    if (prev.name === 'view') $('ext-view').textContent = '';
    if (!onIncident) {
      showIncidentMessage('');
      state.formKey = '';
      renderAlerts(); // restores the document title
      return;
    }
    if (prev.name !== 'incident' || prev.id !== state.route.id) {
      showIncidentMessage('');
      state.formKey = '';
      $('incident-page').textContent = '';
    }
    renderIncidentPage();
    if (state.user) loadIncident(state.route.id);
    if (focus) {
      window.scrollTo(0, 0);
      var title = $('incident-title');
      if (title) { title.setAttribute('tabindex', '-1'); title.focus(); }
    }
  }

  // ---------------------------------------------------------- service worker

  function registerServiceWorker() {
    if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(function () { /* the app works without */ });
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
      if (reconnect) {
        loadAlerts();
        loadIncidents();
        if (state.route.name === 'incident') loadIncident(state.route.id);
      }
      flushQueue();
    });
    es.addEventListener('incident', function (e) {
      if (state.source !== es) return;
      var inc;
      try { inc = JSON.parse(e.data); } catch (err) { return; }
      upsertIncident(inc, !state.incLoaded);
      incidentsChanged();
      emit('incident', inc);
    });
    es.addEventListener('alert', function (e) {
      if (state.source !== es) return;
      var a;
      try { a = JSON.parse(e.data); } catch (err) { return; }
      receive([a], !state.loaded);
      emit('alert', a);
    });
    // A message for this user (the server sends only their own): views that list them.
    es.addEventListener('notification', function (e) {
      if (state.source !== es) return;
      var n;
      try { n = JSON.parse(e.data); } catch (err) { return; }
      emit('notification', n);
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
    state.incidents = {};
    state.freshInc = {};
    state.incLoaded = false;
    state.missing = {};
    renderUser();
    renderAlerts();
    renderIncidents();
    $('alerts').setAttribute('aria-busy', 'true');
    $('incidents').setAttribute('aria-busy', 'true');
    show('app');
    applyRoute(false);
    connect();
    loadAlerts();
    loadIncidents();
    flushQueue();
  }

  function loggedOut() {
    state.gen++;
    state.user = null;
    state.alerts = {};
    state.fresh = {};
    state.loaded = false;
    state.incidents = {};
    state.freshInc = {};
    state.incLoaded = false;
    state.incMessage = null;
    state.formKey = '';
    state.contacts = {};
    disconnect();
    window.clearTimeout(loadRetry);
    window.clearTimeout(incRetry);
    window.clearTimeout(detailRetry);
    window.clearTimeout(state.flushTimer);
    $('alerts').textContent = '';
    $('announcer').textContent = '';
    $('incidents').textContent = '';
    $('incident-announcer').textContent = '';
    $('incident-page').textContent = '';
    $('ext-view').textContent = '';
    state.route = { name: 'list' };
    renderNav();
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
    loadViews();
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
    $('duty-toggle').addEventListener('click', toggleDuty);
    $('login-form').addEventListener('submit', onLoginSubmit);
    $('incident-page').addEventListener('click', function (e) {
      var btn = e.target.closest && e.target.closest('[data-dismiss]');
      if (btn) dismissQueued(btn.dataset.dismiss);
    });
    window.addEventListener('hashchange', function () { if (state.user) applyRoute(true); });
    // Back online: send what was queued now, and start the live stream afresh
    // (its opening catches up on what was missed).
    window.addEventListener('online', function () {
      if (!state.user) return;
      state.flushDelay = 3000;
      window.clearTimeout(state.flushTimer);
      flushQueue();
      connect();
    });
    window.addEventListener('offline', function () { setLive(false); });
    loadQueue();
    renderQueueStatus();

    // Phones sleep: when the page comes back, catch up and revive the stream.
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState !== 'visible' || !state.user) return;
      loadAlerts();
      loadIncidents();
      flushQueue();
      if (!state.source || state.source.readyState === 2) connect();
    });
    // Keep "yesterday"/dates right if the page stays open past midnight.
    window.setInterval(function () { if (state.user) renderAlerts(); }, 10 * 60 * 1000);
    // "opened 2 h 03 min ago" keeps counting.
    window.setInterval(function () { if (state.user) incidentsChanged(); }, 60 * 1000);

    registerServiceWorker();
    checkSession();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
