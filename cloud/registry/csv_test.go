package registry

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/shouwang-care/shouwang/cloud/store"
)

func noIDs() store.RegistryIDs {
	return store.RegistryIDs{Grids: map[string]bool{}, Homes: map[string]bool{}, Residents: map[string]bool{}}
}

func TestExampleFile(t *testing.T) {
	f, err := os.ReadFile("testdata/community.csv")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(f, []byte("\xef\xbb\xbf")) {
		t.Fatal("the example should carry the BOM Excel writes")
	}
	r, err := Parse(bytes.NewReader(f), noIDs())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Grids) != 2 || len(r.Workers) != 5 || len(r.Homes) != 3 || len(r.Residents) != 4 || len(r.Family) != 2 {
		t.Fatalf("%d grids %d workers %d homes %d residents %d family", len(r.Grids), len(r.Workers), len(r.Homes), len(r.Residents), len(r.Family))
	}
	wang := r.Residents[0]
	if wang.ID != "r-wang" || len(wang.Contacts) != 2 || wang.Contacts[1].Phone != "0571-87650199" || wang.Contacts[0].Relation != "儿子" {
		t.Fatalf("%+v", wang)
	}
	if !strings.Contains(r.Medical["r-wang"], "\n对青霉素过敏") {
		t.Fatalf("multi-line medical notes: %q", r.Medical["r-wang"])
	}
	// Phones are normalised: spaces and +86 go.
	if r.Workers[1].Phone != "13805710002" || r.Workers[2].Phone != "13805710003" || r.Workers[1].OnDuty {
		t.Fatalf("%+v", r.Workers[1:3])
	}
	if h := r.Homes[0]; len(h.Sensors) != 3 || h.Sensors[2] != (store.Sensor{ID: "pir-0101", Kind: "pir"}) {
		t.Fatalf("%+v", h)
	}
	// Export then parse gives the same registry, and exporting that is byte-identical.
	var a, b bytes.Buffer
	if err := Export(&a, r); err != nil {
		t.Fatal(err)
	}
	r2, err := Parse(bytes.NewReader(a.Bytes()), noIDs())
	if err != nil {
		t.Fatal(err)
	}
	if err := Export(&b, r2); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Fatalf("round trip differs:\n%s\n---\n%s", a.String(), b.String())
	}
}

func lineErrors(t *testing.T, csv string, ids store.RegistryIDs) []string {
	t.Helper()
	_, err := Parse(strings.NewReader(csv), ids)
	var ie *ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("want an *ImportError, got %v", err)
	}
	var out []string
	for _, e := range ie.Errors {
		out = append(out, e.Error())
	}
	return out
}

func TestParseErrors(t *testing.T) {
	ids := noIDs()
	ids.Grids["g-old"] = true
	for _, tc := range []struct {
		name, csv string
		want      []string
	}{
		{"empty", "", []string{"line 1: the file is empty"}},
		{"unknown column", "kind,id,name,colour\n", []string{`line 1, column colour: unknown column "colour"`}},
		{"no kind", "id,name\n", []string{`line 1, column kind: the header has no "kind" column`}},
		{"twice", "kind,id,id\n", []string{`line 1, column id: column "id" appears twice`}},
		{"not utf-8", "kind,id,name\ngrid,g1,\xcd\xfb\xbd\xad\n", []string{"line 2: not UTF-8"}},
		{"bad mobile", "kind,id,grid_id,name,phone\ngrid,g1,,一网格,\nworker,w1,g1,李,1380000\n",
			[]string{`line 3, column phone: "1380000" is not a mainland mobile number`}},
		{"landline not for workers", "kind,id,grid_id,name,phone\nworker,w1,g-old,李,0571-87654321\n",
			[]string{`line 2, column phone: "0571-87654321" is not a mainland mobile number`}},
		{"field count", "kind,id,name\ngrid,g1\n", []string{"line 2: 2 fields, the header has 3"}},
		{"unknown kind", "kind,id\nhouse,h1\n", []string{`line 2, column kind: "house" is not one of grid`}},
		{"dangling grid", "kind,id,grid_id,address\nhome,h1,g-x,某地\n", []string{`line 2, column grid_id: grid "g-x" is neither in this file nor registered`}},
		{"existing grid is fine, duplicate is not", "kind,id,grid_id,address\nhome,h1,g-old,某地\nhome,h1,g-old,某地\n",
			[]string{`line 3, column id: home "h1" is already on line 2`}},
		{"column not for kind", "kind,id,name,address\ngrid,g1,一网格,某地\n", []string{"line 2, column address: not used by kind grid"}},
		{"missing column", "kind,id,name\nworker,w1,李\n", []string{"line 2, column grid_id: kind worker needs this column"}},
		{"formula", "kind,id,name\ngrid,g1,\"=HYPERLINK(\"\"x\"\")\"\n", []string{`line 2, column name: "=HYPERLINK(\"x\")" starts with "="`}},
		{"contact without its resident", "kind,resident_id,name,phone\ncontact,r1,王,13900000000\n",
			[]string{`line 2, column resident_id: resident "r1" is not in this file`}},
		{"sensors", "kind,id,grid_id,address,sensors\nhome,h1,g-old,某地,water;door:d1;door:d1\n",
			[]string{`line 2, column sensors: "water": write kind:id`, `line 2, column sensors: sensor "d1" is listed twice`}},
		{"role and duty", "kind,id,grid_id,name,phone,role,on_duty\nworker,w1,g-old,李,13800000000,boss,maybe\n",
			[]string{`line 2, column role: "boss" is not one of`, `line 2, column on_duty: "maybe": write 1 or 0`}},
		{"broken quote stops", "kind,id,name\ngrid,g1,\"abc\nx\"y,z\n", []string{"line 2:", "stopped reading here"}},
		{"multi-line field keeps line numbers", "kind,id,home_id,name,medical_notes\nresident,r1,h-x,王,\"a\nb\nc\"\nresident,r2,h-x,李,\n",
			[]string{`line 2, column home_id`, `line 5, column home_id`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(lineErrors(t, tc.csv, ids), "\n")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("errors\n%s\nwant %q", got, w)
				}
			}
		})
	}
}

func TestParseBOMAndBlankRows(t *testing.T) {
	for _, in := range []string{"kind,id,name\r\ngrid,g1,一网格\r\n,,\r\n", "\ufeffKind, ID ,Name\ngrid,g1,一网格\n"} {
		r, err := Parse(strings.NewReader(in), noIDs())
		if err != nil || len(r.Grids) != 1 || r.Grids[0].Name != "一网格" {
			t.Fatalf("%q: %+v %v", in, r, err)
		}
	}
}

func TestErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("kind,id,grid_id,name,phone\n")
	for range MaxErrors + 50 {
		b.WriteString("worker,w,g-x,李,1\n")
	}
	_, err := Parse(strings.NewReader(b.String()), noIDs())
	var ie *ImportError
	if !errors.As(err, &ie) || len(ie.Errors) != MaxErrors || ie.More == 0 {
		t.Fatalf("%d errors, %d more", len(ie.Errors), ie.More)
	}
}

func TestClaimCode(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		c := NewClaimCode()
		if len(c) != 9 || c[4] != '-' {
			t.Fatalf("code %q", c)
		}
		n, err := NormalizeClaimCode(strings.ToLower(c))
		if err != nil || len(n) != 8 {
			t.Fatalf("%q → %q %v", c, n, err)
		}
		seen[n] = true
	}
	if len(seen) < 999 {
		t.Fatalf("only %d distinct codes in 1000", len(seen))
	}
	if n, err := NormalizeClaimCode("abcd-efgi"); err != nil || n != "ABCDEFG1" {
		t.Fatalf("look-alikes: %q %v", n, err)
	}
	for _, bad := range []string{"", "ABCD-EFG", "ABCD-EFGU", "ABCD-EFGHJ", "ABCD-ÉFGH"} {
		if _, err := NormalizeClaimCode(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("kind,id,name\ngrid,g1,一网格\n")
	f.Add("\ufeffkind,id,grid_id,address,sensors\nhome,h1,g1,某地,water:w1\n")
	f.Fuzz(func(t *testing.T, in string) {
		Parse(strings.NewReader(in), noIDs()) // must not panic
	})
}
