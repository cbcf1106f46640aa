package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"
)

var metricName = regexp.MustCompile(`\bshouwang_[a-z0-9_]+`)

// sourceMetrics returns every "shouwang_…" string literal in the non-test Go
// source of the cloud and the edge: the metrics that exist.
func sourceMetrics(t *testing.T) map[string]bool {
	t.Helper()
	lit := regexp.MustCompile(`"(shouwang_[a-z0-9_]+)"`)
	m := map[string]bool{}
	for _, dir := range []string{"../cloud", "../edge"} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, s := range lit.FindAllSubmatch(b, -1) {
				m[string(s[1])] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// checkMetrics fails for a metric in expr that no Go code exports (a rename
// would otherwise silence an alert).
func checkMetrics(t *testing.T, where, expr string, known map[string]bool, seen map[string]bool) {
	t.Helper()
	names := metricName.FindAllString(expr, -1)
	if len(names) == 0 {
		t.Errorf("%s: no shouwang_ metric in %q", where, expr)
	}
	for _, n := range names {
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suf); ok && known[b] {
				base = b
			}
		}
		if !known[base] {
			t.Errorf("%s: metric %s is not exported by any cloud/edge code", where, n)
		}
		seen[base] = true
	}
}

// anchors returns the GitHub heading anchors of a Markdown file.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(l, "#")))
		var sb strings.Builder
		for _, r := range h {
			switch {
			case r == ' ':
				sb.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				sb.WriteRune(r)
			}
		}
		a[sb.String()] = true
	}
	return a
}

func TestPrometheusRules(t *testing.T) {
	const path = "monitoring/prometheus/shouwang-rules.yaml"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Record      string            `yaml:"record"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true) // a misspelt key (anotations:) is an error, as in Prometheus
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	known := sourceMetrics(t)
	docAnchors := anchors(t, "../docs/operations/README.md")
	duration := regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	seen := map[string]bool{}
	names := map[string]bool{}
	groups := map[string]bool{}
	n := 0
	for _, g := range doc.Groups {
		if g.Name == "" || groups[g.Name] || len(g.Rules) == 0 {
			t.Errorf("group %q: empty, unnamed or duplicate", g.Name)
		}
		groups[g.Name] = true
		for _, r := range g.Rules {
			n++
			where := g.Name + "/" + r.Alert + r.Record
			if (r.Alert == "") == (r.Record == "") {
				t.Errorf("%s: exactly one of alert and record", where)
			}
			if names[r.Alert+r.Record] {
				t.Errorf("%s: duplicate name", where)
			}
			names[r.Alert+r.Record] = true
			if r.For != "" && !duration.MatchString(r.For) {
				t.Errorf("%s: for %q is not a Prometheus duration", where, r.For)
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("%s: unbalanced parentheses in %q", where, r.Expr)
			}
			checkMetrics(t, where, r.Expr, known, seen)
			if r.Alert == "" {
				continue
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q", where, s)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary", where)
			}
			u := r.Annotations["runbook_url"]
			_, anchor, ok := strings.Cut(u, "docs/operations/README.md#")
			if !ok || !docAnchors[anchor] {
				t.Errorf("%s: runbook_url %q does not point at a heading of docs/operations/README.md", where, u)
			}
		}
	}
	for _, want := range []string{"shouwang_gateways", "shouwang_ingest_messages_total", "shouwang_ingest_alert_commit_seconds", "shouwang_notification_backlog", "shouwang_notification_failures_total"} {
		if !seen[want] {
			t.Errorf("no rule watches %s", want)
		}
	}
	t.Logf("%d rules in %d groups", n, len(doc.Groups))
	if testing.Short() {
		return
	}
	// PromQL syntax, and the rules' behaviour on the series of
	// shouwang-rules.test.yaml: which alerts fire, when, and with what text.
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (Debian package prometheus; scripts/test.sh installs it): %v", err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	cmd := exec.Command(promtool, "test", "rules", "shouwang-rules.test.yaml")
	cmd.Dir = filepath.Dir(path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("monitoring/grafana/shouwang-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		ID      int                      `json:"id"`
		Type    string                   `json:"type"`
		Title   string                   `json:"title"`
		GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	}
	var d struct {
		UID    string  `json:"uid"`
		Title  string  `json:"title"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard uid %q title %q, %d panels", d.UID, d.Title, len(d.Panels))
	}
	known := sourceMetrics(t)
	seen := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("duplicate panel id %d", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
			t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkMetrics(t, "panel "+p.Title, tg.Expr, known, seen)
		}
	}
	for _, want := range []string{"shouwang_ingest_messages_total", "shouwang_ingest_rejected_total", "shouwang_dispatch_pages_total",
		"shouwang_dispatch_latency_seconds", "shouwang_edge_outbox_pending", "shouwang_notification_backlog"} {
		if !seen[want] {
			t.Errorf("dashboard does not show %s", want)
		}
	}
}
