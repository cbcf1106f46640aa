// Package registry onboards communities: the combined registry CSV (import with
// line-by-line validation, export in the same format), one-time claim codes that
// bind a gateway to a home, and the registry's HTTP endpoints for the web app.
package registry

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shouwang-care/shouwang/cloud/store"
)

// Columns is the header of the registry CSV, in the order Export writes it. An
// import may carry any subset in any order, as long as "kind" is there.
var Columns = []string{"kind", "id", "grid_id", "home_id", "resident_id", "name", "community",
	"address", "phone", "relation", "role", "on_duty", "sensors", "medical_notes"}

// Record kinds, one per row.
const (
	KindGrid     = "grid"
	KindWorker   = "worker"
	KindHome     = "home"
	KindResident = "resident"
	KindContact  = "contact"
	KindFamily   = "family"
)

var kinds = []string{KindGrid, KindWorker, KindHome, KindResident, KindContact, KindFamily}

// uses lists the columns each kind reads; the others must be empty, which catches
// a row shifted by one column before it lands in the wrong field.
var uses = map[string][]string{
	KindGrid:     {"id", "name", "community"},
	KindWorker:   {"id", "grid_id", "name", "phone", "role", "on_duty"},
	KindHome:     {"id", "grid_id", "address", "sensors"},
	KindResident: {"id", "home_id", "name", "phone", "medical_notes"},
	KindContact:  {"resident_id", "name", "relation", "phone"},
	KindFamily:   {"id", "resident_id", "name", "relation", "phone"},
}

// MaxErrors caps the error list: past it, the file is wrong in some systematic way
// and more lines say nothing new.
const MaxErrors = 200

// LineError is one problem in an import, located by line and column.
type LineError struct {
	Line    int    `json:"line"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

func (e LineError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Message)
	}
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Message)
}

// ImportError is a refused import: nothing was written.
type ImportError struct {
	Errors []LineError
	More   int // errors found past MaxErrors
}

func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "registry CSV refused, %d error(s):", len(e.Errors)+e.More)
	for _, le := range e.Errors {
		b.WriteString("\n  " + le.Error())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  … and %d more", e.More)
	}
	return b.String()
}

var (
	idRE         = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	sensorKindRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	mobileRE     = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	landlineRE   = regexp.MustCompile(`^0[1-9][0-9]{1,2}-?[2-9][0-9]{6,7}$`)
	roles        = []string{"worker", "backup", "supervisor", "technician"}
)

// parser collects what a file says and everything wrong with it.
type parser struct {
	existing store.RegistryIDs
	reg      store.Registry
	errs     []LineError
	more     int
	// where each ID of each kind was first seen, for duplicates and references
	seen     map[string]map[string]int
	resIdx   map[string]int // resident ID → index in reg.Residents
	contacts []pendingContact
	refs     []pendingRef
}

type pendingContact struct {
	line     int
	resident string
	c        store.EmergencyContact
}

// pendingRef is checked once the whole file is read: rows may come in any order.
type pendingRef struct {
	line           int
	column, kind   string
	id             string
	existing       map[string]bool
	fileOnlyReason string // set when the target must be in this file
}

func (p *parser) fail(line int, column, format string, args ...any) {
	if len(p.errs) >= MaxErrors {
		p.more++
		return
	}
	p.errs = append(p.errs, LineError{Line: line, Column: column, Message: fmt.Sprintf(format, args...)})
}

// Parse reads a registry CSV and checks every line: field formats, duplicates, and
// that every grid, home and resident a row refers to is in the file or in
// existing. It returns the registry to import, or an *ImportError listing every
// problem found. in may start with a UTF-8 byte order mark (Excel writes one).
func Parse(in io.Reader, existing store.RegistryIDs) (store.Registry, error) {
	data, err := io.ReadAll(in)
	if err != nil {
		return store.Registry{}, fmt.Errorf("read registry CSV: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	p := &parser{existing: existing, seen: map[string]map[string]int{}, resIdx: map[string]int{},
		reg: store.Registry{Medical: map[string]string{}}}
	for _, k := range kinds {
		p.seen[k] = map[string]int{}
	}
	if !utf8.Valid(data) {
		line := 1 + bytes.Count(data[:firstInvalid(data)], []byte("\n"))
		p.fail(line, "", `not UTF-8 text (Excel's plain "CSV" is GBK): save as "CSV UTF-8 (逗号分隔)"`)
		return store.Registry{}, p.result()
	}
	r := csv.NewReader(bytes.NewReader(data))
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		p.fail(1, "", "the file is empty; the first line must be the header, e.g. %s", strings.Join(Columns, ","))
		return store.Registry{}, p.result()
	}
	if err != nil {
		p.fail(1, "", "header: %v", csvReason(err))
		return store.Registry{}, p.result()
	}
	col, ok := p.header(header)
	if !ok {
		return store.Registry{}, p.result()
	}
	r.FieldsPerRecord = len(header)
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
			line, _ := r.FieldPos(0)
			p.fail(line, "", "%d fields, the header has %d", len(rec), len(header))
			continue
		}
		if err != nil {
			line := 0
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			p.fail(line, "", "%s; stopped reading here", csvReason(err))
			break
		}
		line, _ := r.FieldPos(0)
		p.row(line, rec, col)
	}
	p.resolve()
	if len(p.errs) > 0 {
		return store.Registry{}, p.result()
	}
	return p.reg, nil
}

func (p *parser) result() error {
	return &ImportError{Errors: p.errs, More: p.more}
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// header maps column names to positions and refuses unknown and repeated names.
func (p *parser) header(h []string) (map[string]int, bool) {
	col := map[string]int{}
	ok := true
	for i, name := range h {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case name == "":
			p.fail(1, "", "header column %d has no name", i+1)
			ok = false
		case !slices.Contains(Columns, name):
			p.fail(1, name, "unknown column %q; the columns are %s", name, strings.Join(Columns, ", "))
			ok = false
		case hasKey(col, name):
			p.fail(1, name, "column %q appears twice", name)
			ok = false
		default:
			col[name] = i
		}
	}
	if ok && !hasKey(col, "kind") {
		p.fail(1, "kind", `the header has no "kind" column`)
		ok = false
	}
	return col, ok
}

func hasKey[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }

// row checks one record and adds it to the registry.
func (p *parser) row(line int, rec []string, col map[string]int) {
	get := func(name string) string {
		if i, ok := col[name]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	blank := true
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			blank = false
			break
		}
	}
	if blank {
		return // Excel leaves rows of empty cells at the end
	}
	kind := strings.ToLower(get("kind"))
	used, ok := uses[kind]
	if !ok {
		p.fail(line, "kind", "%q is not one of %s", get("kind"), strings.Join(kinds, ", "))
		return
	}
	before := len(p.errs) + p.more
	for name := range col {
		if name != "kind" && !slices.Contains(used, name) && get(name) != "" {
			p.fail(line, name, "not used by kind %s (leave it empty)", kind)
		}
	}
	// need reads a required column; the error says when the header lacks it.
	need := func(name string) string {
		v := get(name)
		if v == "" {
			if !hasKey(col, name) {
				p.fail(line, name, "kind %s needs this column; the header does not have it", kind)
			} else {
				p.fail(line, name, "empty; kind %s needs it", kind)
			}
		}
		return v
	}
	id := ""
	if slices.Contains(used, "id") {
		id = need("id")
		if id != "" {
			if !idRE.MatchString(id) {
				p.fail(line, "id", "%q: use 1–64 of A-Z a-z 0-9 . _ -, starting with a letter or digit", id)
			} else if first, dup := p.seen[kind][id]; dup {
				p.fail(line, "id", "%s %q is already on line %d", kind, id, first)
			} else {
				p.seen[kind][id] = line
			}
		}
	}
	text := func(name string, required bool, max int) string {
		v := get(name)
		if required {
			v = need(name)
		}
		if v != "" {
			p.checkText(line, name, v, max)
		}
		return v
	}
	switch kind {
	case KindGrid:
		g := store.Grid{ID: id, Name: text("name", true, 64), Community: text("community", false, 64)}
		if p.clean(before) {
			p.reg.Grids = append(p.reg.Grids, g)
		}
	case KindWorker:
		w := store.Worker{ID: id, GridID: need("grid_id"), Name: text("name", true, 64),
			Phone: p.phone(line, need("phone"), false), Role: strings.ToLower(get("role")), OnDuty: true}
		p.ref(line, "grid_id", KindGrid, w.GridID, p.existing.Grids, "")
		if w.Role == "" {
			w.Role = "worker"
		} else if !slices.Contains(roles, w.Role) {
			p.fail(line, "role", "%q is not one of %s", get("role"), strings.Join(roles, ", "))
		}
		if v := get("on_duty"); v != "" {
			on, ok := parseBool(v)
			if !ok {
				p.fail(line, "on_duty", "%q: write 1 or 0", v)
			}
			w.OnDuty = on
		}
		if p.clean(before) {
			p.reg.Workers = append(p.reg.Workers, w)
		}
	case KindHome:
		h := store.HomeRecord{Home: store.Home{ID: id, GridID: need("grid_id"), Address: text("address", true, 200)},
			Sensors: p.sensors(line, get("sensors"))}
		p.ref(line, "grid_id", KindGrid, h.GridID, p.existing.Grids, "")
		if p.clean(before) {
			p.reg.Homes = append(p.reg.Homes, h)
		}
	case KindResident:
		res := store.Resident{ID: id, HomeID: need("home_id"), Name: text("name", true, 64),
			Phone: p.phone(line, get("phone"), true), Contacts: []store.EmergencyContact{}}
		notes := get("medical_notes")
		if notes != "" {
			p.checkText(line, "medical_notes", notes, 2000)
		}
		p.ref(line, "home_id", KindHome, res.HomeID, p.existing.Homes, "")
		if p.clean(before) {
			p.resIdx[id] = len(p.reg.Residents)
			p.reg.Residents = append(p.reg.Residents, res)
			if notes != "" {
				p.reg.Medical[id] = notes
			}
		}
	case KindContact:
		c := pendingContact{line: line, resident: need("resident_id"), c: store.EmergencyContact{
			Name: text("name", true, 64), Relation: text("relation", false, 32), Phone: p.phone(line, need("phone"), true)}}
		// Contacts are replaced as a whole list per resident, so the resident must be
		// in the file too; otherwise importing one contact would wipe the others.
		p.ref(line, "resident_id", KindResident, c.resident, nil, "a resident's contacts are imported with the resident: add its resident row")
		if p.clean(before) {
			p.contacts = append(p.contacts, c)
		}
	case KindFamily:
		f := store.FamilyMember{ID: id, ResidentID: need("resident_id"), Name: text("name", true, 64),
			Relation: text("relation", false, 32), Phone: p.phone(line, need("phone"), false)}
		p.ref(line, "resident_id", KindResident, f.ResidentID, p.existing.Residents, "")
		if p.clean(before) {
			p.reg.Family = append(p.reg.Family, f)
		}
	}
}

// clean reports whether the current row added no error.
func (p *parser) clean(before int) bool { return len(p.errs)+p.more == before }

func (p *parser) ref(line int, column, kind, id string, existing map[string]bool, fileOnly string) {
	if id != "" {
		p.refs = append(p.refs, pendingRef{line: line, column: column, kind: kind, id: id, existing: existing, fileOnlyReason: fileOnly})
	}
}

// resolve checks references once every row is known and attaches contacts, in
// file order, to their residents.
func (p *parser) resolve() {
	for _, r := range p.refs {
		if _, ok := p.seen[r.kind][r.id]; ok || r.existing[r.id] {
			continue
		}
		if r.fileOnlyReason != "" {
			p.fail(r.line, r.column, "%s %q is not in this file; %s", r.kind, r.id, r.fileOnlyReason)
		} else {
			p.fail(r.line, r.column, "%s %q is neither in this file nor registered", r.kind, r.id)
		}
	}
	for _, c := range p.contacts {
		if i, ok := p.resIdx[c.resident]; ok {
			p.reg.Residents[i].Contacts = append(p.reg.Residents[i].Contacts, c.c)
		}
	}
}

// checkText refuses control characters, overlong values and a leading = + - @,
// which a spreadsheet opening the export would run as a formula.
func (p *parser) checkText(line int, column, v string, max int) {
	if n := utf8.RuneCountInString(v); n > max {
		p.fail(line, column, "%d characters, at most %d", n, max)
	}
	if strings.ContainsAny(v[:1], "=+-@") {
		p.fail(line, column, "%q starts with %q, which a spreadsheet runs as a formula", short(v), v[:1])
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(column == "medical_notes" && (r == '\n' || r == '\r' || r == '\t')) {
			p.fail(line, column, "%q contains a control character", short(v))
			return
		}
	}
}

func short(v string) string {
	if utf8.RuneCountInString(v) <= 20 {
		return v
	}
	return string([]rune(v)[:20]) + "…"
}

// phone normalises a phone number: spaces and dashes in mobiles and the +86
// prefix are dropped. Landlines (0571-87654321) are accepted where a call is
// enough (residents, emergency contacts); workers and family get SMS and need a
// mobile.
func (p *parser) phone(line int, v string, landline bool) string {
	if v == "" {
		return ""
	}
	n := strings.NewReplacer(" ", "", "\u00a0", "", "(", "", ")", "").Replace(v)
	for _, prefix := range []string{"+86", "0086"} {
		n = strings.TrimPrefix(n, prefix)
	}
	n = strings.TrimLeft(n, "-")
	if m := strings.ReplaceAll(n, "-", ""); mobileRE.MatchString(m) {
		return m
	}
	if landline && landlineRE.MatchString(n) {
		return n
	}
	if landline {
		p.fail(line, "phone", "%q is neither a mainland mobile number (13812345678) nor a landline (0571-87654321)", v)
	} else {
		p.fail(line, "phone", "%q is not a mainland mobile number", v)
	}
	return ""
}

// sensors reads "kind:id;kind:id", e.g. "water:wm-01;door:dr-01".
func (p *parser) sensors(line int, v string) []store.Sensor {
	list := []store.Sensor{}
	if v == "" {
		return list
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(v, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		kind, id, ok := strings.Cut(item, ":")
		kind, id = strings.TrimSpace(kind), strings.TrimSpace(id)
		switch {
		case !ok || !sensorKindRE.MatchString(kind) || !idRE.MatchString(id):
			p.fail(line, "sensors", "%q: write kind:id, e.g. water:wm-01, separated by ;", item)
		case seen[id]:
			p.fail(line, "sensors", "sensor %q is listed twice", id)
		default:
			seen[id] = true
			list = append(list, store.Sensor{ID: id, Kind: kind})
		}
	}
	return list
}

func parseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "y", "是":
		return true, true
	case "0", "false", "no", "n", "否":
		return false, true
	}
	return false, false
}

// Export writes r in the registry CSV format with a UTF-8 byte order mark, so
// Excel shows the Chinese text; Parse reads it back unchanged. Contacts follow
// their resident, in calling order.
func Export(w io.Writer, r store.Registry) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return fmt.Errorf("write registry CSV: %w", err)
	}
	cw := csv.NewWriter(w)
	idx := map[string]int{}
	for i, c := range Columns {
		idx[c] = i
	}
	write := func(kind string, kv ...string) {
		rec := make([]string, len(Columns))
		rec[0] = kind
		for i := 0; i+1 < len(kv); i += 2 {
			rec[idx[kv[i]]] = kv[i+1]
		}
		cw.Write(rec) // the error sticks in cw and is read by Error below
	}
	cw.Write(Columns)
	for _, g := range r.Grids {
		write(KindGrid, "id", g.ID, "name", g.Name, "community", g.Community)
	}
	for _, wk := range r.Workers {
		on := "0"
		if wk.OnDuty {
			on = "1"
		}
		write(KindWorker, "id", wk.ID, "grid_id", wk.GridID, "name", wk.Name, "phone", wk.Phone, "role", wk.Role, "on_duty", on)
	}
	for _, h := range r.Homes {
		s := make([]string, len(h.Sensors))
		for i, sn := range h.Sensors {
			s[i] = sn.Kind + ":" + sn.ID
		}
		write(KindHome, "id", h.ID, "grid_id", h.GridID, "address", h.Address, "sensors", strings.Join(s, ";"))
	}
	for _, res := range r.Residents {
		write(KindResident, "id", res.ID, "home_id", res.HomeID, "name", res.Name, "phone", res.Phone, "medical_notes", r.Medical[res.ID])
		for _, c := range res.Contacts {
			write(KindContact, "resident_id", res.ID, "name", c.Name, "relation", c.Relation, "phone", c.Phone)
		}
	}
	for _, f := range r.Family {
		write(KindFamily, "id", f.ID, "resident_id", f.ResidentID, "name", f.Name, "relation", f.Relation, "phone", f.Phone)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write registry CSV: %w", err)
	}
	return nil
}
