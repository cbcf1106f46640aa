/* 守望 Shouwang — family views. Registers through window.ShouwangViews (see "extra views" in app.js).
 *
 * A family member (or the resident) sees, for each home they follow: 平安 or
 * not at a glance with the last sign of life (#family, their landing page), the
 * home's details with away mode and its incidents (#home/<id>, where the
 * evening digest links), an incident's closed loop with feedback and a rating
 * once resolved (#incident/<id>, where status messages link), and how they want
 * to be told (#notify). A home or incident they do not follow is refused. */
(window.ShouwangViews = window.ShouwangViews || []).push(function (sw) {
  'use strict';

  sw.strings({
    'zh-CN': {
      fam_tab: '家人',
      fam_notifyTab: '通知设置',
      fam_title: '家人平安',
      fam_noHomes: '您还没有关注的老人。请老人或社区为您生成邀请码。',
      fam_st_safe: '平安',
      fam_private: '老人没有向家属开放每日状态。',
      fam_st_alert: '有待处理的事件',
      fam_st_offline: '网关离线',
      fam_st_quiet: '一天内无活动',
      fam_help_safe: '今天有活动，没有待处理的事件。',
      fam_help_alert: '{n} 个事件正在处理，网格员已收到通知。',
      fam_help_offline: '家中网关没有上报，暂时无法守望。',
      fam_help_quiet: '一天内没有活动记录，还没有告警。',
      fam_lastActivity: '最近活动：{time}（{ago}前）',
      fam_lastActivityNow: '最近活动：{time}（刚刚）',
      fam_noActivity: '最近活动：无记录',
      fam_awayBadge: '外出中',
      fam_details: '查看详情',
      fam_openHome: '查看{name}的详情',
      fam_back: '‹ 返回家人列表',
      fam_refused: '无法查看：这不是您关注的老人的家。',
      fam_refusedInc: '无法查看：找不到该事件，或它与您关注的老人无关。',
      fam_errLoad: '加载失败，请检查网络后重试。',
      fam_retry: '重试',
      fam_awayTitle: '外出设置',
      fam_awayNow: '{reason}，预计 {date} 回家',
      fam_awayOpen: '{reason}，回家日期未定',
      fam_awayHelp: '外出期间暂停无活动提醒（如长时间未用水），紧急呼叫照常守望。',
      fam_reason_travel: '外出旅行',
      fam_reason_hospital: '住院',
      fam_reason_: '外出',
      fam_reasonLegend: '原因',
      fam_untilLabel: '预计回家日期（可选）',
      fam_setAway: '设置外出',
      fam_setBack: '已回家，恢复守望',
      fam_errUntil: '回家日期不能早于今天',
      fam_errReason: '请选择原因',
      fam_saving: '正在保存…',
      fam_savedAway: '已设置外出。',
      fam_savedBack: '已恢复守望。',
      fam_pending: '网关暂时离线，联网后自动生效。',
      fam_errSave: '未保存：{msg}',
      fam_readOnlyAway: '外出设置由家属或网格员管理。',
      fam_incTitle: '事件记录',
      fam_noInc: '没有事件记录',
      fam_openInc: '打开事件：{causes}，{state}',
      fam_backHome: '‹ 返回',
      fam_openedAt: '{time} 发现',
      fam_feedbackTitle: '您的反馈和评价',
      fam_feedbackLabel: '反馈（可选）',
      fam_submit: '提交',
      fam_thanks: '谢谢您的反馈！',
      fam_errFeedback: '请填写反馈或选择星级',
      fam_rateOnly: '请为这次处理评分',
      fam_waitResolve: '处理完成后，可以在这里反馈和评价。',
      fam_noticesTitle: '最近通知',
      fam_noNotices: '还没有收到通知',
      fam_via: '经{channels}送达',
      fam_kind_status: '事件进展',
      fam_kind_digest: '每日平安报告',
      fam_kindHelp_status: '网格员接单、到达、处理完成时',
      fam_kindHelp_digest: '每晚 8 点报平安',
      ch_inapp: '应用内',
      ch_webpush: '浏览器推送',
      ch_sms: '短信',
      ch_wecom: '企业微信',
      ch_email: '电子邮件',
      fam_notifyTitle: '通知设置',
      fam_kindsLegend: '通知我',
      fam_channelsLegend: '通知方式',
      fam_phone: '手机号码',
      fam_email: '电子邮箱',
      fam_wecom: '企业微信账号',
      fam_save: '保存设置',
      fam_saved: '已保存。',
      fam_defaultNote: '您还没有设置，目前在应用内通知您。',
      fam_errNoChannel: '请至少选择一种通知方式，或取消所有通知',
      fam_errPhone: '请输入 11 位手机号码',
      fam_errEmail: '请输入有效的电子邮箱',
      fam_errWecom: '请输入企业微信账号',
      fam_errPush: '这个浏览器无法开启推送（未允许通知，或不支持）。请改用短信或企业微信。'
    },
    en: {
      fam_tab: 'Family',
      fam_notifyTab: 'Notifications',
      fam_title: 'Your family',
      fam_noHomes: 'You follow nobody yet. Ask your parent or the community for an invitation code.',
      fam_st_safe: 'Safe',
      fam_private: 'Your parent keeps their daily status private from family.',
      fam_st_alert: 'Needs attention',
      fam_st_offline: 'Gateway offline',
      fam_st_quiet: 'Quiet for a day',
      fam_help_safe: 'Active today, nothing open.',
      fam_help_alert: '{n} open incident(s); the grid worker has been told.',
      fam_help_offline: 'The home\u2019s gateway is not reporting: nobody is watching right now.',
      fam_help_quiet: 'No sign of life for a day, no alert yet.',
      fam_lastActivity: 'Last activity: {time} ({ago} ago)',
      fam_lastActivityNow: 'Last activity: {time} (just now)',
      fam_noActivity: 'Last activity: none recorded',
      fam_awayBadge: 'Away',
      fam_details: 'Details',
      fam_openHome: 'Details of {name}',
      fam_back: '‹ Back to family',
      fam_refused: 'Not available: this is not the home of someone you follow.',
      fam_refusedInc: 'Not available: no such incident, or it is not about someone you follow.',
      fam_errLoad: 'Could not load. Check the network and try again.',
      fam_retry: 'Retry',
      fam_awayTitle: 'Away',
      fam_awayNow: '{reason}, back by {date}',
      fam_awayOpen: '{reason}, return date open',
      fam_awayHelp: 'While away, no-activity alerts (such as no water use) pause; SOS is still watched.',
      fam_reason_travel: 'Travelling',
      fam_reason_hospital: 'In hospital',
      fam_reason_: 'Away',
      fam_reasonLegend: 'Reason',
      fam_untilLabel: 'Expected back on (optional)',
      fam_setAway: 'Set away',
      fam_setBack: 'Back home: resume watching',
      fam_errUntil: 'The return date cannot be in the past',
      fam_errReason: 'Choose a reason',
      fam_saving: 'Saving…',
      fam_savedAway: 'Set to away.',
      fam_savedBack: 'Watching again.',
      fam_pending: 'The gateway is offline; this takes effect once it reconnects.',
      fam_errSave: 'Not saved: {msg}',
      fam_readOnlyAway: 'Family or the grid worker set away mode.',
      fam_incTitle: 'Incidents',
      fam_noInc: 'No incidents',
      fam_openInc: 'Open incident: {causes}, {state}',
      fam_backHome: '‹ Back',
      fam_openedAt: 'Opened {time}',
      fam_feedbackTitle: 'Your feedback and rating',
      fam_feedbackLabel: 'Feedback (optional)',
      fam_submit: 'Send',
      fam_thanks: 'Thank you for your feedback!',
      fam_errFeedback: 'Write feedback or choose stars',
      fam_rateOnly: 'Rate how this was handled',
      fam_waitResolve: 'Once it is resolved you can give feedback and a rating here.',
      fam_noticesTitle: 'Recent notifications',
      fam_noNotices: 'No notifications yet',
      fam_via: 'via {channels}',
      fam_kind_status: 'Incident progress',
      fam_kind_digest: 'Daily digest',
      fam_kindHelp_status: 'when the grid worker accepts, arrives, resolves',
      fam_kindHelp_digest: 'an "all is well" report at 8 pm',
      ch_inapp: 'In the app',
      ch_webpush: 'Web Push',
      ch_sms: 'SMS',
      ch_wecom: 'WeCom',
      ch_email: 'E-mail',
      fam_notifyTitle: 'Notification settings',
      fam_kindsLegend: 'Tell me about',
      fam_channelsLegend: 'Tell me by',
      fam_phone: 'Mobile number',
      fam_email: 'E-mail address',
      fam_wecom: 'WeCom user ID',
      fam_save: 'Save settings',
      fam_saved: 'Saved.',
      fam_defaultNote: 'Not set yet: you are told in the app.',
      fam_errNoChannel: 'Choose at least one channel, or switch every kind off',
      fam_errPhone: 'Enter an 11-digit mobile number',
      fam_errEmail: 'Enter a valid e-mail address',
      fam_errWecom: 'Enter your WeCom user ID',
      fam_errPush: 'This browser cannot receive push messages (notifications not allowed, or not supported). Choose SMS or WeCom instead.'
    }
  });

  var h = sw.h;
  var t = sw.t;
  var ROLES = ['family', 'resident'];
  // The address a channel needs, and its field.
  var ADDRESS = { sms: 'phone', email: 'email', wecom: 'wecom_user' };
  var ADDRESS_LABEL = { phone: 'fam_phone', email: 'fam_email', wecom_user: 'fam_wecom' };
  var FIELD_ERROR = { phone: 'fam_errPhone', email: 'fam_errEmail', wecom_user: 'fam_errWecom', channels: 'fam_errNoChannel', webpush: 'fam_errPush' };

  // ------------------------------------------------------------------ data
  //
  // Answers are cached per login (sw.gen) and reloaded when a view opens, so a
  // language switch or a live event redraws at once from what we have.

  var cache = {};
  var cacheGen = -1;
  var loading = {};

  function fresh() {
    if (cacheGen !== sw.gen()) { cache = {}; loading = {}; cacheGen = sw.gen(); }
  }

  // load fetches path into cache[key] ({status, body} or {error}) and redraws.
  function load(key, path) {
    fresh();
    if (loading[key]) return;
    loading[key] = true;
    var gen = sw.gen();
    sw.api('GET', path).then(function (r) {
      if (gen !== sw.gen()) return;
      cache[key] = r;
    }, function () {
      if (gen !== sw.gen()) return;
      cache[key] = { error: true };
    }).then(function () {
      if (gen !== sw.gen()) return;
      delete loading[key];
      sw.rerender();
    });
  }

  // Cache keys name what they hold: "homes", "status:<home>", "incident:<id>"…
  function pathOf(key) {
    var i = key.indexOf(':');
    var id = i < 0 ? '' : encodeURIComponent(key.slice(i + 1));
    switch (i < 0 ? key : key.slice(0, i)) {
      case 'homes': return '/api/v1/me/homes';
      case 'notices': return '/api/v1/me/notices?limit=10';
      case 'prefs': return '/api/v1/me/notifications';
      case 'incidents': return '/api/v1/incidents';
      case 'incident': return '/api/v1/incidents/' + id;
      case 'status': return '/api/v1/homes/' + id + '/status';
      case 'settings': return '/api/v1/homes/' + id + '/settings';
    }
    return '';
  }

  function get(key) {
    fresh();
    if (!cache[key] && !loading[key]) load(key, pathOf(key));
    return cache[key];
  }

  // Reload what a view shows (after a change, or a live event).
  function reload(keys) {
    keys.forEach(function (k) { delete loading[k]; load(k, pathOf(k)); });
  }

  function ok(r) { return r && r.status === 200 && r.body; }

  // ---------------------------------------------------------------- helpers

  // Rebuilds el's content with build(), keeping what was typed or ticked and
  // the focus: a redraw (live event, language) must not lose a half-filled form.
  function redraw(el, build) {
    var draft = {};
    Array.prototype.forEach.call(el.querySelectorAll('input[id], textarea[id]'), function (f) {
      draft[f.id] = (f.type === 'checkbox' || f.type === 'radio') ? f.checked : f.value;
    });
    var focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : '';
    el.textContent = '';
    build(el);
    Object.keys(draft).forEach(function (id) {
      var f = document.getElementById(id);
      if (!f || !el.contains(f)) return;
      if (f.type === 'checkbox' || f.type === 'radio') f.checked = draft[id];
      else f.value = draft[id];
    });
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  }

  function notice(key, vars, cls) {
    return h('p', { class: 'notice ' + (cls || ''), text: t(key, vars) });
  }

  function retryBox(keys) {
    var btn = h('button', { type: 'button', class: 'secondary-btn', text: t('fam_retry') });
    btn.addEventListener('click', function () { reload(keys); });
    return h('div', { class: 'incident-message fam-error', role: 'alert' }, t('fam_errLoad'), h('br'), btn);
  }

  function refusal(key) {
    return h('div', { class: 'incident-message fam-refusal', role: 'alert', dataset: { refused: 'true' } }, t(key));
  }

  function serverMsg(r) {
    return r && r.body && r.body.error && r.body.error.message ? r.body.error.message : 'HTTP ' + (r ? r.status : '?');
  }

  function parseTime(s) {
    var d = s ? new Date(s) : null;
    return d && !isNaN(d.getTime()) ? d : null;
  }

  function dateText(s) {
    var d = parseTime(s);
    return d ? d.toLocaleDateString(sw.lang(), { month: 'long', day: 'numeric' }) : '';
  }

  function isoDay(d) {
    var p = function (n) { return n < 10 ? '0' + n : String(n); };
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate());
  }

  function lastActivityText(st) {
    var d = parseTime(st.last_activity_at);
    if (!d) return t('fam_noActivity');
    var secs = (Date.now() - d.getTime()) / 1000;
    if (secs < 60) return t('fam_lastActivityNow', { time: sw.formatTime(st.last_activity_at) });
    return t('fam_lastActivity', { time: sw.formatTime(st.last_activity_at), ago: sw.formatDuration(secs) });
  }

  function section(cls, titleKey) {
    return h('section', { class: 'inc-section fam-section ' + cls }, h('h3', { class: 'inc-section-title', text: t(titleKey) }));
  }

  function isFamily() { return (sw.user() || {}).role === 'family'; }

  // ---------------------------------------------------------- status card

  function statusCard(home, st, link) {
    var status = st.status || 'quiet';
    var name = st.resident || home.resident || home.home_id;
    var card = h('article', { class: 'inc-head fam-card fam-' + status, dataset: { home: home.home_id, status: status } },
      h('div', { class: 'card-head' },
        h('h3', { class: 'fam-name', text: name }),
        home.relation ? h('span', { class: 'badge badge-class', text: home.relation }) : null,
        st.away ? h('span', { class: 'badge fam-away-badge', text: t('fam_awayBadge') }) : null),
      h('p', { class: 'fam-status', dataset: { status: status } },
        h('span', { class: 'fam-status-icon', 'aria-hidden': 'true', text: status === 'safe' ? '✓' : '!' }),
        t('fam_st_' + status)),
      h('p', { class: 'fam-help', text: t('fam_help_' + status, { n: st.open_incidents || 0 }) }),
      h('p', { class: 'fam-last', text: lastActivityText(st) }),
      home.address ? h('p', { class: 'address', text: home.address }) : null);
    if (link) {
      card.appendChild(h('a', { class: 'fam-more primary-btn', href: '#home/' + encodeURIComponent(home.home_id),
        'aria-label': t('fam_openHome', { name: name }), text: t('fam_details') }));
    }
    return card;
  }

  // The status card, or why there is none. A home they follow answers 404 when
  // the resident keeps their daily status from family (a privacy choice).
  function statusOf(home, r, link) {
    if (!r) return notice('loading');
    if (r.status === 404) {
      return h('article', { class: 'inc-head fam-card', dataset: { home: home.home_id, status: 'private' } },
        h('h3', { class: 'fam-name', text: home.resident || home.home_id }),
        h('p', { class: 'fam-help', text: t('fam_private') }),
        link ? h('a', { class: 'fam-more primary-btn', href: '#home/' + encodeURIComponent(home.home_id), text: t('fam_details') }) : null);
    }
    if (!ok(r)) return retryBox(['status:' + home.home_id]);
    return statusCard(home, r.body, link);
  }

  // --------------------------------------------------------------- landing

  function renderFamily(el) {
    var homes = get('homes');
    var notices = isFamily() ? get('notices') : null;
    redraw(el, function (el) {
      el.appendChild(h('div', { class: 'alerts-head' }, h('h2', { id: 'fam-title', text: t('fam_title') })));
      if (!homes) { el.appendChild(notice('loading')); return; }
      if (!ok(homes)) { el.appendChild(retryBox(['homes'])); return; }
      var list = homes.body.homes || [];
      if (!list.length) el.appendChild(notice('fam_noHomes'));
      var ul = h('ul', { class: 'fam-list' });
      list.forEach(function (home) {
        var st = get('status:' + home.home_id);
        var li = h('li', null);
        li.appendChild(statusOf(home, st, true));
        ul.appendChild(li);
      });
      el.appendChild(ul);
      if (isFamily()) el.appendChild(noticesSection(notices));
    });
    document.title = t('fam_title') + ' · 守望 Shouwang';
  }

  function noticesSection(r) {
    var sec = section('fam-notices', 'fam_noticesTitle');
    if (!r) { sec.appendChild(notice('loading')); return sec; }
    if (!ok(r)) { sec.appendChild(retryBox(['notices'])); return sec; }
    var list = r.body.notices || [];
    if (!list.length) { sec.appendChild(h('p', { class: 'muted', text: t('fam_noNotices') })); return sec; }
    var ul = h('ul', { class: 'fam-notice-list' });
    list.forEach(function (n) {
      var en = sw.lang() === 'en';
      var title = (en ? n.title_en : n.title_zh) || n.title_zh || n.title_en;
      var body = (en ? n.body_en : n.body_zh) || n.body_zh || n.body_en;
      var href = n.incident_id ? '#incident/' + encodeURIComponent(n.incident_id) : '#home/' + encodeURIComponent(n.home_id);
      var via = (n.channels || []).map(function (c) { return t('ch_' + c); }).join(t('listSep'));
      ul.appendChild(h('li', { class: 'fam-notice', dataset: { kind: n.kind, key: n.key } },
        h('p', { class: 'fam-notice-meta' },
          h('span', { class: 'badge badge-class', text: t('fam_kind_' + n.kind) }), ' ',
          h('time', { datetime: n.at, text: sw.formatTime(n.at) })),
        h('a', { class: 'fam-notice-title', href: href, text: title }),
        body ? h('p', { class: 'fam-notice-body', text: body }) : null,
        via ? h('p', { class: 'muted fam-via', text: t('fam_via', { channels: via }) }) : null));
    });
    sec.appendChild(ul);
    return sec;
  }

  // ------------------------------------------------------------ one home

  function followed(id) {
    var homes = cache.homes;
    if (!ok(homes)) return null;
    return (homes.body.homes || []).filter(function (x) { return x.home_id === id; })[0] || false;
  }

  function renderHome(el, params) {
    var id = params[0] || '';
    var homes = get('homes');
    var home = followed(id);
    // Not one of theirs: refused before asking for anything about it.
    var st = home ? get('status:' + id) : null;
    var settings = home ? get('settings:' + id) : null;
    var incidents = home ? get('incidents') : null;
    redraw(el, function (el) {
      el.appendChild(h('a', { class: 'back-link', href: '#family', text: t('fam_back') }));
      if (!homes) { el.appendChild(notice('loading')); return; }
      if (!ok(homes)) { el.appendChild(retryBox(['homes'])); return; }
      if (!home) { el.appendChild(refusal('fam_refused')); return; }
      el.appendChild(statusOf(home, st, false));
      el.appendChild(awaySection(id, settings));
      el.appendChild(homeIncidents(id, incidents));
    });
    document.title = (home && home.resident ? home.resident + ' · ' : '') + '守望 Shouwang';
  }

  // --------------------------------------------------------------- away

  var awayMessage = {}; // home -> {key, vars, error}

  function awaySection(id, r) {
    var sec = section('fam-away', 'fam_awayTitle');
    sec.id = 'fam-away';
    if (!r) { sec.appendChild(notice('loading')); return sec; }
    if (!ok(r)) { sec.appendChild(retryBox(['settings:' + id])); return sec; }
    var set = r.body.settings || {};
    var until = parseTime(set.away_until);
    var away = set.away && !(until && until.getTime() < Date.now());
    sec.dataset.away = away ? 'true' : 'false';
    var reason = t('fam_reason_' + (set.away_reason || ''));
    if (away) {
      sec.appendChild(h('p', { class: 'fam-away-now', text: until ? t('fam_awayNow', { reason: reason, date: dateText(set.away_until) }) : t('fam_awayOpen', { reason: reason }) }));
    }
    sec.appendChild(h('p', { class: 'muted', text: t('fam_awayHelp') }));
    var msg = awayMessage[id];
    var status = h('p', { id: 'fam-away-status', class: msg && msg.error ? 'login-error' : 'fam-ok', role: 'status', hidden: !msg },
      msg ? t(msg.key, msg.vars) : '');
    if (!isFamily()) {
      sec.appendChild(h('p', { class: 'muted', text: t('fam_readOnlyAway') }));
      return sec;
    }
    var form = h('form', { id: 'fam-away-form', class: 'fam-form', novalidate: true, dataset: { mode: away ? 'back' : 'away' } });
    if (!away) {
      var fs = h('fieldset', { class: 'choices' }, h('legend', { text: t('fam_reasonLegend') }));
      ['travel', 'hospital'].forEach(function (v) {
        fs.appendChild(h('label', { class: 'choice', for: 'fam-reason-' + v },
          h('input', { type: 'radio', id: 'fam-reason-' + v, name: 'fam-reason', value: v }),
          h('span', { text: t('fam_reason_' + v) })));
      });
      form.appendChild(fs);
      form.appendChild(h('div', { class: 'field' },
        h('label', { for: 'fam-until', text: t('fam_untilLabel') }),
        h('input', { type: 'date', id: 'fam-until', name: 'until', min: isoDay(new Date()) })));
    }
    form.appendChild(status);
    form.appendChild(h('button', { type: 'submit', class: 'step-btn', id: 'fam-away-submit', text: t(away ? 'fam_setBack' : 'fam_setAway') }));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      submitAway(id, set, away, form);
    });
    sec.appendChild(form);
    return sec;
  }

  function submitAway(id, current, away, form) {
    var next = {};
    Object.keys(current).forEach(function (k) { next[k] = current[k]; });
    delete next.erase_before; // set by an erasure only, never sent back
    if (away) {
      next.away = false;
      delete next.away_until;
      delete next.away_reason;
    } else {
      var reason = form.querySelector('input[name="fam-reason"]:checked');
      var until = form.querySelector('#fam-until').value;
      if (!reason) return awayError(id, 'fam_errReason');
      if (until && until < isoDay(new Date())) return awayError(id, 'fam_errUntil');
      next.away = true;
      next.away_reason = reason.value;
      if (until) {
        var p = until.split('-');
        // The end of that day, at home: back "on" the 30th means watched again from the 31st.
        next.away_until = new Date(Number(p[0]), Number(p[1]) - 1, Number(p[2]), 23, 59, 59).toISOString();
      } else {
        delete next.away_until;
      }
    }
    var btn = form.querySelector('#fam-away-submit');
    btn.disabled = true;
    btn.textContent = t('fam_saving');
    var gen = sw.gen();
    sw.api('PUT', '/api/v1/homes/' + encodeURIComponent(id) + '/settings', next).then(function (r) {
      if (gen !== sw.gen()) return;
      if (r.status === 200) {
        var pending = r.body && /pending/.test(r.body.status || '');
        awayMessage[id] = { key: pending ? 'fam_pending' : (away ? 'fam_savedBack' : 'fam_savedAway') };
        cache['settings:' + id] = { status: 200, body: { home_id: id, revision: r.body.revision, settings: r.body.settings } };
        form.remove(); // drawn afresh from what was stored, not from what was on screen
        reload(['status:' + id]);
        sw.rerender();
        focusStatus();
      } else {
        awayError(id, 'fam_errSave', { msg: serverMsg(r) });
      }
    }, function () {
      if (gen === sw.gen()) awayError(id, 'fam_errLoad');
    });
  }

  function awayError(id, key, vars) {
    awayMessage[id] = { key: key, vars: vars, error: true };
    sw.rerender();
    focusStatus();
  }

  function focusStatus() {
    var el = document.getElementById('fam-away-status');
    if (el) { el.setAttribute('tabindex', '-1'); el.focus(); }
  }

  // ---------------------------------------------------------- incidents

  function homeIncidents(id, r) {
    var sec = section('fam-incidents', 'fam_incTitle');
    if (!r) { sec.appendChild(notice('loading')); return sec; }
    if (!ok(r)) { sec.appendChild(retryBox(['incidents'])); return sec; }
    var list = (r.body.incidents || []).filter(function (i) { return i.home_id === id; });
    list.sort(function (a, b) { return (parseTime(b.opened_at) || 0) - (parseTime(a.opened_at) || 0); });
    if (!list.length) { sec.appendChild(h('p', { class: 'muted', text: t('fam_noInc') })); return sec; }
    var ul = h('ul', { class: 'fam-inc-list' });
    list.forEach(function (inc) {
      var causes = sw.causes(inc) || sw.ruleName(inc.class);
      ul.appendChild(h('li', { class: 'fam-inc', dataset: { incidentId: inc.id, state: inc.state } },
        h('a', { class: 'fam-inc-link', href: '#incident/' + encodeURIComponent(inc.id),
          'aria-label': t('fam_openInc', { causes: causes, state: sw.stateName(inc.state) }) },
          h('span', { class: 'fam-inc-causes', text: causes }),
          sw.stateBadge(inc.state)),
        h('p', { class: 'since', text: sinceText(inc) })));
    });
    sec.appendChild(ul);
    return sec;
  }

  var OPEN = { discovered: true, dispatched: true, accepted: true, on_site: true };

  // "opened 13:39, 2 h ago" counts while it is open; a closed one just says when.
  function sinceText(inc) {
    return OPEN[inc.state] ? sw.since(inc) : t('fam_openedAt', { time: sw.formatTime(inc.opened_at) });
  }

  var feedbackMessage = {}; // incident -> {key, vars, error}

  function renderIncident(el, params) {
    var id = params[0] || '';
    var key = 'incident:' + id;
    var r = get(key);
    redraw(el, function (el) {
      var inc = ok(r) ? r.body.incident : null;
      el.appendChild(h('a', { class: 'back-link', href: inc ? '#home/' + encodeURIComponent(inc.home_id) : '#family', text: t('fam_backHome') }));
      if (!r) { el.appendChild(notice('loading')); return; }
      if (r.status === 404 || r.status === 403) { el.appendChild(refusal('fam_refusedInc')); return; }
      if (!inc) { el.appendChild(retryBox([key])); return; }
      el.appendChild(h('header', { class: 'inc-head fam-inc-head', dataset: { incidentId: inc.id, state: inc.state } },
        h('h2', { id: 'fam-inc-title', class: 'inc-title', text: sw.causes(inc) || sw.ruleName(inc.class) }),
        h('div', { class: 'card-head' }, sw.stateBadge(inc.state)),
        h('div', { class: 'who' },
          inc.resident ? h('p', { class: 'resident', text: inc.resident }) : null,
          inc.address ? h('p', { class: 'address', text: inc.address }) : null),
        h('p', { class: 'since', text: sinceText(inc) }),
        sw.outcomeSummary(inc)));
      el.appendChild(h('div', { class: 'part' }, feedbackSection(inc)));
      // Who is on it (and their phone) while open, and who handled it after.
      if (inc.assignee || OPEN[inc.state]) el.appendChild(h('div', { class: 'part' }, h('section', { class: 'inc-section' }, sw.assigneeRow(inc))));
      el.appendChild(h('div', { class: 'part' }, sw.timeline(inc)));
    });
    document.title = t('fam_incTitle') + ' · 守望 Shouwang';
  }

  function feedbackSection(inc) {
    var sec = section('fam-feedback', 'fam_feedbackTitle');
    var msg = feedbackMessage[inc.id];
    var status = h('p', { id: 'fam-feedback-status', class: msg && msg.error ? 'login-error' : 'fam-ok', role: msg && msg.error ? 'alert' : 'status', hidden: !msg },
      msg ? t(msg.key, msg.vars) : '');
    if (inc.state === 'evaluated') {
      sec.appendChild(h('p', { class: 'closed-note', text: t('fam_thanks') }));
      return sec;
    }
    if (inc.state !== 'resolved' && inc.state !== 'feedback') {
      sec.appendChild(h('p', { class: 'muted', text: t('fam_waitResolve') }));
      return sec;
    }
    var form = h('form', { id: 'fam-feedback-form', class: 'fam-form', novalidate: true, dataset: { step: inc.state } });
    if (inc.state === 'resolved') {
      form.appendChild(h('div', { class: 'field' },
        h('label', { for: 'fam-feedback-text', text: t('fam_feedbackLabel') }),
        h('textarea', { id: 'fam-feedback-text', rows: '3', maxlength: '600' })));
    } else {
      form.appendChild(h('p', { text: t('fam_rateOnly') }));
    }
    form.appendChild(sw.ratingFieldset());
    form.appendChild(status);
    form.appendChild(h('button', { type: 'submit', class: 'step-btn', id: 'fam-feedback-submit', text: t('fam_submit') }));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      submitFeedback(inc, form);
    });
    sec.appendChild(form);
    return sec;
  }

  // Feedback first (it must follow "resolved"), then the rating.
  function submitFeedback(inc, form) {
    var area = form.querySelector('#fam-feedback-text');
    var text = area ? area.value.trim() : '';
    var star = form.querySelector('input[name="rating"]:checked');
    if (!text && !star) {
      feedbackMessage[inc.id] = { key: area ? 'fam_errFeedback' : 'errRating', error: true };
      sw.rerender();
      return;
    }
    var steps = [];
    if (text) steps.push(['feedback', { feedback: text }]);
    if (star) steps.push(['evaluate', { rating: Number(star.value) }]);
    var btn = form.querySelector('#fam-feedback-submit');
    btn.disabled = true;
    btn.textContent = t('fam_saving');
    var gen = sw.gen();
    var key = 'incident:' + inc.id;
    var next = function () {
      var s = steps.shift();
      if (!s) return Promise.resolve(null);
      return sw.api('POST', '/api/v1/incidents/' + encodeURIComponent(inc.id) + '/' + s[0], s[1]).then(function (r) {
        if (r.status !== 200) return r;
        cache[key] = { status: 200, body: { incident: r.body.incident } };
        return next();
      });
    };
    next().then(function (failed) {
      if (gen !== sw.gen()) return;
      if (failed) feedbackMessage[inc.id] = { key: 'fam_errSave', vars: { msg: serverMsg(failed) }, error: true };
      else { feedbackMessage[inc.id] = null; form.remove(); }
      reload([key, 'incidents']);
      sw.rerender();
    }, function () {
      if (gen !== sw.gen()) return;
      feedbackMessage[inc.id] = { key: 'fam_errLoad', error: true };
      sw.rerender();
    });
  }

  // ------------------------------------------------------ notifications

  var prefsMessage = null; // {key, vars, error, field}

  function renderNotify(el) {
    var r = get('prefs');
    redraw(el, function (el) {
      el.appendChild(h('div', { class: 'alerts-head' }, h('h2', { id: 'fam-notify-title', text: t('fam_notifyTitle') })));
      if (!r) { el.appendChild(notice('loading')); return; }
      if (!ok(r)) { el.appendChild(retryBox(['prefs'])); return; }
      el.appendChild(prefsForm(r.body.notifications || {}, r.body.available || {}));
    });
    document.title = t('fam_notifyTitle') + ' · 守望 Shouwang';
  }

  function checkbox(group, value, label, checked, help) {
    var id = 'fam-' + group + '-' + value;
    return h('label', { class: 'choice fam-check', for: id },
      h('input', { type: 'checkbox', id: id, name: group, value: value, checked: checked }),
      h('span', null, label, help ? h('span', { class: 'fam-check-help', text: help }) : null));
  }

  function prefsForm(p, available) {
    var form = h('form', { id: 'fam-notify-form', class: 'inc-section fam-form', novalidate: true });
    if (p.default) form.appendChild(h('p', { class: 'muted', text: t('fam_defaultNote') }));
    var kinds = h('fieldset', { class: 'choices', id: 'fam-kinds' }, h('legend', { text: t('fam_kindsLegend') }));
    (available.kinds || ['status', 'digest']).forEach(function (k) {
      kinds.appendChild(checkbox('kind', k, t('fam_kind_' + k), (p.kinds || []).indexOf(k) >= 0, t('fam_kindHelp_' + k)));
    });
    form.appendChild(kinds);
    var chans = h('fieldset', { class: 'choices', id: 'fam-channels' }, h('legend', { text: t('fam_channelsLegend') }));
    (available.channels || ['inapp']).forEach(function (c) {
      chans.appendChild(checkbox('channel', c, t('ch_' + c), (p.channels || []).indexOf(c) >= 0));
    });
    form.appendChild(chans);
    // The addresses of the channels offered here.
    Object.keys(ADDRESS).forEach(function (c) {
      if ((available.channels || []).indexOf(c) < 0) return;
      var field = ADDRESS[c];
      var id = 'fam-' + field.replace('_', '-');
      var bad = prefsMessage && prefsMessage.field === field;
      form.appendChild(h('div', { class: 'field', dataset: { channel: c } },
        h('label', { for: id, text: t(ADDRESS_LABEL[field]) }),
        h('input', { id: id, name: field, type: field === 'email' ? 'email' : (field === 'phone' ? 'tel' : 'text'),
          autocomplete: field === 'email' ? 'email' : (field === 'phone' ? 'tel' : 'off'), value: p[field] || '',
          'aria-invalid': bad ? 'true' : 'false', 'aria-describedby': bad ? 'fam-notify-status' : null })));
    });
    var msg = prefsMessage;
    form.appendChild(h('p', { id: 'fam-notify-status', class: msg && msg.error ? 'login-error' : 'fam-ok', role: msg && msg.error ? 'alert' : 'status', hidden: !msg },
      msg ? t(msg.key, msg.vars) : ''));
    form.appendChild(h('button', { type: 'submit', class: 'step-btn', id: 'fam-notify-submit', text: t('fam_save') }));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      submitPrefs(form, available);
    });
    return form;
  }

  function values(form, name) {
    return Array.prototype.map.call(form.querySelectorAll('input[name="' + name + '"]:checked'), function (i) { return i.value; });
  }

  // This browser's push subscription as JSON, made with the cloud's VAPID key;
  // rejects when the browser cannot or the person does not allow it.
  function pushSubscription(key) {
    if (!('serviceWorker' in navigator) || !('PushManager' in window) || !window.isSecureContext) {
      return Promise.reject(new Error('unsupported'));
    }
    var raw = atob(key.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((key.length + 3) % 4));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return navigator.serviceWorker.ready.then(function (reg) {
      return reg.pushManager.getSubscription().then(function (sub) {
        return sub || reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: bytes });
      });
    }).then(function (sub) { return JSON.stringify(sub); });
  }

  function submitPrefs(form, available) {
    var body = { channels: values(form, 'channel'), kinds: values(form, 'kind'), lang: sw.lang() };
    Object.keys(ADDRESS).forEach(function (c) {
      var f = form.querySelector('input[name="' + ADDRESS[c] + '"]');
      if (f) body[ADDRESS[c]] = f.value.trim();
    });
    var btn = form.querySelector('#fam-notify-submit');
    btn.disabled = true;
    btn.textContent = t('fam_saving');
    var gen = sw.gen();
    var wantPush = body.channels.indexOf('webpush') >= 0 && available && available.webpush_key;
    var ready = wantPush ? pushSubscription(available.webpush_key).then(function (sub) { body.webpush = sub; }, function () {
      // Refused or unsupported: saved without it, and the server names the field.
    }) : Promise.resolve();
    ready.then(function () { return sw.api('PUT', '/api/v1/me/notifications', body); }).then(function (r) {
      if (gen !== sw.gen()) return;
      if (r.status === 200) {
        prefsMessage = { key: 'fam_saved' };
        cache.prefs = r;
        form.remove(); // drawn afresh from what was stored
      } else {
        var field = r.body && r.body.error && r.body.error.field;
        prefsMessage = FIELD_ERROR[field] && !/not set up/.test(serverMsg(r))
          ? { key: FIELD_ERROR[field], error: true, field: field }
          : { key: 'fam_errSave', vars: { msg: serverMsg(r) }, error: true, field: field };
        btn.disabled = false;
      }
      sw.rerender();
      var target = prefsMessage.field ? document.querySelector('#fam-notify-form [name="' + prefsMessage.field + '"]') : null;
      (target || document.getElementById('fam-notify-status')).focus();
    }, function () {
      if (gen !== sw.gen()) return;
      prefsMessage = { key: 'fam_errLoad', error: true };
      sw.rerender();
    });
  }

  // ------------------------------------------------------------ live

  // A step taken on one of their incidents: show it, and the home's status.
  sw.on('incident', function (inc) {
    if (!inc || ROLES.indexOf((sw.user() || {}).role) < 0) return;
    fresh();
    reload(['incidents', 'status:' + inc.home_id, 'incident:' + inc.id].filter(function (k) { return cache[k]; }));
  });

  // A message just sent to us in the app: list it.
  sw.on('notification', function () {
    fresh();
    if (cache.notices) reload(['notices']);
  });

  // Leaving a form's view forgets its message.
  window.addEventListener('hashchange', function () { prefsMessage = null; awayMessage = {}; feedbackMessage = {}; });

  // ------------------------------------------------------------ views

  sw.view({ name: 'family', href: '#family', pattern: /^#family$/, roles: ROLES, tabKey: 'fam_tab', landing: true, listTab: false,
    render: function (el) { reloadOnOpen(el, ['homes', 'notices', 'status:']); renderFamily(el); } });
  sw.view({ name: 'home', href: '#family', pattern: /^#home\/(.+)$/, roles: ROLES,
    render: function (el, params) { reloadOnOpen(el, ['homes', 'incidents', 'status:' + params[0], 'settings:' + params[0]]); renderHome(el, params); } });
  sw.view({ name: 'fam-incident', pattern: /^#incident\/(.+)$/, roles: ROLES,
    render: function (el, params) { reloadOnOpen(el, ['incident:' + params[0]]); renderIncident(el, params); } });
  sw.view({ name: 'notify', href: '#notify', pattern: /^#notify$/, roles: ['family'], tabKey: 'fam_notifyTab',
    render: function (el) { reloadOnOpen(el, ['prefs']); renderNotify(el); } });

  // Opening a view (not redrawing it) fetches its data afresh, so what is shown
  // is current. A key ending in ":" stands for all of its kind ("status:").
  var opened = '';
  function reloadOnOpen(el, keys) {
    fresh();
    var where = location.hash + '|' + sw.gen();
    if (where === opened) return;
    opened = where;
    Object.keys(cache).forEach(function (c) {
      keys.forEach(function (k) { if (c === k || (k.slice(-1) === ':' && c.indexOf(k) === 0)) delete cache[c]; });
    });
    el.textContent = '';
  }
});
