/* 守望 Shouwang — service worker: the app shell for an offline start.
 *
 * - Caches only the shell below, under a versioned name; bump VERSION when the
 *   list changes. Old shouwang-shell-* caches are deleted on activation.
 * - Shell files are fetched network first (so a new deploy is used at once)
 *   and fall back to the cache when the network is down or too slow.
 * - Never touches /api/: API answers (personal data, live state, the SSE
 *   stream) are neither cached nor even proxied — the browser fetches them
 *   itself, and the page queues its actions while offline.
 */
'use strict';

var VERSION = 'v3';
var CACHE = 'shouwang-shell-' + VERSION;
var SHELL = ['/', '/index.html', '/app.js', '/family.js', '/console.js', '/app.css', '/icon.svg', '/manifest.webmanifest'];
var NETWORK_TIMEOUT_MS = 4000;

self.addEventListener('install', function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(SHELL.map(function (u) { return new Request(u, { cache: 'reload' }); }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf('shouwang-shell-') === 0 && k !== CACHE;
    }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function isShell(url) {
  return SHELL.indexOf(url.pathname) >= 0;
}

// The network answer if it comes in time (and then refresh the cached copy),
// else the cached copy.
function networkFirst(request, key) {
  return caches.open(CACHE).then(function (cache) {
    var fromNetwork = fetch(request).then(function (res) {
      if (res && res.ok && res.type === 'basic') cache.put(key, res.clone());
      return res;
    });
    var timer;
    var slow = new Promise(function (resolve) {
      timer = setTimeout(function () { resolve(cache.match(key)); }, NETWORK_TIMEOUT_MS);
    });
    return Promise.race([fromNetwork, slow]).then(function (res) {
      clearTimeout(timer);
      return res || fromNetwork;
    }, function () {
      clearTimeout(timer);
      return cache.match(key).then(function (hit) { return hit || Response.error(); });
    });
  });
}

self.addEventListener('fetch', function (event) {
  var req = event.request;
  if (req.method !== 'GET') return;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.indexOf('/api/') === 0) return; // never cached, never proxied
  if (req.mode === 'navigate' && (url.pathname === '/' || url.pathname === '/index.html')) {
    // The app's one page (#incident/… is a fragment, not a path).
    event.respondWith(networkFirst(req, '/index.html'));
    return;
  }
  if (isShell(url)) event.respondWith(networkFirst(req, url.pathname));
});

// Web Push (family members who chose it): show the message; a tap opens its page.
// The payload is cloud/notify's WebPushPayload: {title, body, url, tag, key}.
self.addEventListener('push', function (event) {
  var m = {};
  try { m = event.data ? event.data.json() : {}; } catch (e) { m = { body: event.data ? event.data.text() : '' }; }
  event.waitUntil(self.registration.showNotification(m.title || '守望 Shouwang', {
    body: m.body || '', tag: m.tag || m.key || undefined, data: { url: m.url || '/' }, icon: '/icon.svg',
    requireInteraction: !!m.urgent
  }));
});

self.addEventListener('notificationclick', function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || '/';
  event.waitUntil(self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if ('focus' in list[i]) { list[i].navigate(url); return list[i].focus(); }
    }
    return self.clients.openWindow(url);
  }));
});
