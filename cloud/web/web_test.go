package web

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
)

func TestFSHoldsTheApp(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "app.css", "manifest.webmanifest", "icon.svg"} {
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
		`href="/manifest.webmanifest"`, `src="/app.js"`, `href="/app.css"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	// Everything is served by the binary: no third-party hosts, no inline script.
	for _, bad := range []string{"http://", "https://", "<script>", "serviceWorker"} {
		if strings.Contains(html, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	js, err := fs.ReadFile(FS(), "app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"alert-card", "alertId", "assignee-name", "/api/v1/events", "/api/v1/alerts?limit=100"} {
		if !strings.Contains(string(js), want) {
			t.Errorf("app.js lacks %s", want)
		}
	}
	if strings.Contains(string(js), "serviceWorker") {
		t.Error("app.js registers a service worker")
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
		Icons      []struct {
			Src  string `json:"src"`
			Type string `json:"type"`
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
	for _, ic := range m.Icons {
		if _, err := fs.Stat(FS(), strings.TrimPrefix(ic.Src, "/")); err != nil {
			t.Errorf("icon %s: %v", ic.Src, err)
		}
	}
}
