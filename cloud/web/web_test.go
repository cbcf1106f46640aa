package web

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestFSHoldsTheApp(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "app.css", "manifest.webmanifest", "icon.svg", "sw.js"} {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
	}
}

// The browser tests and the server rely on these hooks; keep them stable.
func TestIndexHasStableHooks(t *testing.T) {
	b, err := fs.ReadFile(FS(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, want := range []string{
		`lang="zh-CN"`, `id="login-form"`, `id="username"`, `id="password"`, `id="login-error"`,
		`id="alerts"`, `id="lang-toggle"`, `id="live-status"`, `data-live="false"`, `aria-live=`,
		`id="incidents"`, `id="incident-view"`, `id="incident-page"`, `id="incident-announcer"`, `id="queue-status"`,
		`href="/manifest.webmanifest"`, `src="/app.js"`, `href="/app.css"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	// Everything is served by the binary: no third-party hosts, no inline script
	// (the service worker is registered from app.js, not from the page).
	for _, bad := range []string{"http://", "https://", "<script>", "serviceWorker", " style=", "onclick"} {
		if strings.Contains(html, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	js, err := fs.ReadFile(FS(), "app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"alert-card", "alertId", "assignee-name", "/api/v1/events", "/api/v1/alerts?limit=100",
		"incident-card", "/api/v1/incidents?open=1", "#incident/", "addEventListener('incident'", "addEventListener('online'",
		"localStorage", "serviceWorker.register('/sw.js'"} {
		if !strings.Contains(string(js), want) {
			t.Errorf("app.js lacks %s", want)
		}
	}
	for _, name := range []string{"app.js", "family.js", "console.js", "sw.js"} {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		// The SVG namespace (charts drawn with createElementNS) is a name, not a host.
		code := strings.ReplaceAll(string(b), "'http://www.w3.org/2000/svg'", "")
		for _, bad := range []string{"http://", "https://", "eval(", "importScripts", "document.write"} {
			if strings.Contains(code, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
		if regexp.MustCompile(`\.(inner|outer)HTML\s*=`).Match(b) {
			t.Errorf("%s sets innerHTML/outerHTML", name)
		}
	}
}

// The service worker caches the app shell under a versioned name, deletes older
// versions, and never touches /api/ (no cached personal data, no proxied SSE).
func TestServiceWorker(t *testing.T) {
	b, err := fs.ReadFile(FS(), "sw.js")
	if err != nil {
		t.Fatal(err)
	}
	sw := string(b)
	m := regexp.MustCompile(`var SHELL = \[([^\]]*)\]`).FindStringSubmatch(sw)
	if m == nil {
		t.Fatal("sw.js: no SHELL list")
	}
	var shell []string
	for _, q := range regexp.MustCompile(`'([^']*)'`).FindAllStringSubmatch(m[1], -1) {
		shell = append(shell, q[1])
	}
	for _, want := range []string{"/", "/index.html", "/app.js", "/family.js", "/console.js", "/app.css", "/icon.svg", "/manifest.webmanifest"} {
		if !slices.Contains(shell, want) {
			t.Errorf("shell %v lacks %s", shell, want)
		}
	}
	for _, p := range shell {
		if p == "/" {
			continue
		}
		if _, err := fs.Stat(FS(), strings.TrimPrefix(p, "/")); err != nil {
			t.Errorf("shell file %s: %v", p, err)
		}
		if strings.HasPrefix(p, "/api/") {
			t.Errorf("shell caches the API: %s", p)
		}
	}
	for _, want := range []string{
		`var CACHE = 'shouwang-shell-' + VERSION`,     // versioned, so an update replaces it cleanly
		`caches.delete(k)`,                            // old versions go
		`url.pathname.indexOf('/api/') === 0) return`, // the API is never cached nor proxied
		`req.method !== 'GET') return`,
	} {
		if !strings.Contains(sw, want) {
			t.Errorf("sw.js lacks %s", want)
		}
	}
	// The API check comes before any respondWith.
	if strings.Index(sw, "'/api/'") > strings.Index(sw, "event.respondWith") {
		t.Error("sw.js may answer an /api/ request before checking for it")
	}
}

func TestManifest(t *testing.T) {
	b, err := fs.ReadFile(FS(), "manifest.webmanifest")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Name       string `json:"name"`
		ShortName  string `json:"short_name"`
		StartURL   string `json:"start_url"`
		Display    string `json:"display"`
		ThemeColor string `json:"theme_color"`
		Scope      string `json:"scope"`
		Icons      []struct {
			Src     string `json:"src"`
			Type    string `json:"type"`
			Purpose string `json:"purpose"`
		} `json:"icons"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Name, "守望") || m.ShortName == "" || m.StartURL != "/" || m.Display != "standalone" || m.ThemeColor == "" {
		t.Errorf("manifest fields: %+v", m)
	}
	if len(m.Icons) == 0 {
		t.Fatal("manifest has no icon")
	}
	purposes := map[string]bool{}
	for _, ic := range m.Icons {
		if _, err := fs.Stat(FS(), strings.TrimPrefix(ic.Src, "/")); err != nil {
			t.Errorf("icon %s: %v", ic.Src, err)
		}
		for _, p := range strings.Fields(ic.Purpose) {
			purposes[p] = true
		}
	}
	if !purposes["any"] || !purposes["maskable"] {
		t.Errorf("manifest icons: purposes %v, want any and maskable", purposes)
	}
	if m.Scope != "/" {
		t.Errorf("manifest scope %q, want / (the service worker's scope)", m.Scope)
	}
}
