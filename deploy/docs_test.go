package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOperatorDocs keeps the operator, installer and security documents
// honest: every relative link and anchor resolves, every repository path
// they name in backquotes under deploy/ exists, both languages exist and have
// a checklist.
func TestOperatorDocs(t *testing.T) {
	docs := []string{
		"../docs/operations/README.md", "../docs/operations/README.zh-CN.md", "../docs/operations/capacity.md", "../docs/operations/capacity.zh-CN.md",
		"../docs/install/README.md", "../docs/install/README.zh-CN.md",
		"../docs/security/en303645-ics.md", "../SECURITY.md",
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	deployPath := regexp.MustCompile("`(deploy/[A-Za-z0-9_./-]+)`")
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Error(err)
			continue
		}
		text := string(b)
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := doc
			if file != "" {
				path = filepath.Join(filepath.Dir(doc), file)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link %s: %v", doc, target, err)
				continue
			}
			if anchor != "" && strings.HasSuffix(path, ".md") && !anchors(t, path)[anchor] {
				t.Errorf("%s: link %s: no such heading", doc, target)
			}
		}
		for _, m := range deployPath.FindAllStringSubmatch(text, -1) {
			p := strings.TrimSuffix(m[1], "/")
			if _, err := os.Stat(filepath.Join("..", p)); err != nil {
				t.Errorf("%s names %s, which does not exist", doc, p)
			}
		}
	}
	for _, doc := range []string{"../docs/operations/README.md", "../docs/operations/README.zh-CN.md", "../docs/install/README.md", "../docs/install/README.zh-CN.md"} {
		b, _ := os.ReadFile(doc)
		if strings.Count(string(b), "- [ ]") < 8 {
			t.Errorf("%s: want a checklist of at least 8 items", doc)
		}
	}
	// The troubleshooting topics the operator guide must cover, in both languages.
	en, _ := os.ReadFile("../docs/operations/README.md")
	zh, _ := os.ReadFile("../docs/operations/README.zh-CN.md")
	for _, h := range []string{"Meter not answering", "Gateway offline", "False alarms too frequent", "Backup", "Restore", "Upgrade", "Monitoring"} {
		if !strings.Contains(string(en), "## "+h) && !strings.Contains(string(en), "### "+h) {
			t.Errorf("operator guide: no section %q", h)
		}
	}
	for _, h := range []string{"表计无应答", "网关离线", "误报过多", "备份", "恢复", "升级", "监控"} {
		if !strings.Contains(string(zh), "# "+h) {
			t.Errorf("运维指南: no section %q", h)
		}
	}
	// Every EN 303 645 provision has a row.
	ics, _ := os.ReadFile("../docs/security/en303645-ics.md")
	for _, p := range []string{"5.1-1", "5.1-5", "5.2-1", "5.3-1", "5.3-16", "5.4-4", "5.5-8", "5.6-9", "5.7-2", "5.8-3", "5.9-3", "5.10-1", "5.11-4", "5.12-3", "5.13-1a", "6-1", "6-5"} {
		if !regexp.MustCompile(`\| ` + regexp.QuoteMeta(p) + ` `).Match(ics) {
			t.Errorf("ICS: no row for provision %s", p)
		}
	}
}
