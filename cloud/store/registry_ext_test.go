package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/shouwang-care/shouwang/cloud/credential"
)

// community builds a registry of n households in two grids.
func community(n int) Registry {
	r := Registry{Medical: map[string]string{},
		Grids: []Grid{{ID: "g-a", Name: "望江 1 网格", Community: "望江"}, {ID: "g-b", Name: "望江 2 网格", Community: "望江"}}}
	r.Workers = []Worker{
		{ID: "w-a1", GridID: "g-a", Name: "李网格", Phone: "13800000001", OnDuty: true, Role: "worker"},
		{ID: "w-a2", GridID: "g-a", Name: "赵备岗", Phone: "13800000002", Role: "backup"},
		{ID: "w-b1", GridID: "g-b", Name: "钱网格", Phone: "13800000003", OnDuty: true, Role: "worker"},
		{ID: "w-s", GridID: "g-a", Name: "孙主任", Phone: "13800000004", OnDuty: true, Role: "supervisor"},
	}
	for i := range n {
		grid := "g-a"
		if i%2 == 1 {
			grid = "g-b"
		}
		h := fmt.Sprintf("h-%04d", i)
		r.Homes = append(r.Homes, HomeRecord{Home: Home{ID: h, GridID: grid, Address: fmt.Sprintf("望江新村 %d 幢 %d 室", i/20+1, i%20+101)},
			Sensors: []Sensor{{ID: h + "-door", Kind: "door"}, {ID: h + "-water", Kind: "water"}}})
		p := fmt.Sprintf("r-%04d", i)
		r.Residents = append(r.Residents, Resident{ID: p, HomeID: h, Name: fmt.Sprintf("王%d", i), Phone: "0571-8700" + fmt.Sprintf("%04d", i),
			Contacts: []EmergencyContact{{Name: "王小" + fmt.Sprint(i), Relation: "子女", Phone: fmt.Sprintf("139%08d", i)}, {Name: "邻居", Relation: "邻居", Phone: fmt.Sprintf("137%08d", i)}}})
		if i%3 == 0 {
			r.Medical[p] = "高血压；每日服药"
			r.Family = append(r.Family, FamilyMember{ID: "f-" + p, ResidentID: p, Name: "王家属", Relation: "女儿", Phone: fmt.Sprintf("136%08d", i)})
		}
	}
	return r
}

func TestRegistryImportExport(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		want := community(500)
		n, err := s.ImportRegistry(ctx, want)
		must(t, err)
		if n.Homes != 500 || n.Residents != 500 || n.Contacts != 1000 || n.Family != 167 || n.Workers != 4 || n.Grids != 2 {
			t.Fatalf("counts %+v", n)
		}
		got, err := s.ExportRegistry(ctx)
		must(t, err)
		// The dispatcher's resident_name is derived on import.
		for i := range want.Homes {
			want.Homes[i].ResidentName = want.Residents[i].Name
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("export differs from import:\n got %+v\nwant %+v", got.Homes[:1], want.Homes[:1])
		}
		// Importing again is an update, not a duplicate; a resident's contacts are replaced.
		want.Residents[0].Contacts = want.Residents[0].Contacts[:1]
		delete(want.Medical, "r-0000")
		_, err = s.ImportRegistry(ctx, want)
		must(t, err)
		p, err := s.Resident(ctx, "r-0000")
		must(t, err)
		if len(p.Contacts) != 1 {
			t.Fatalf("contacts not replaced: %+v", p.Contacts)
		}
		if notes, err := s.ResidentMedical(ctx, "r-0000"); err != nil || notes != "" {
			t.Fatalf("medical notes %q %v, want deleted", notes, err)
		}
		if notes, err := s.ResidentMedical(ctx, "r-0003"); err != nil || notes != "高血压；每日服药" {
			t.Fatalf("medical notes %q %v", notes, err)
		}
		if _, err := s.ResidentMedical(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("medical of unknown resident: %v", err)
		}
		// Pages.
		homes, err := s.Homes(ctx, 10, 495)
		must(t, err)
		if len(homes) != 5 || homes[0].ID != "h-0495" || len(homes[0].Sensors) != 2 || homes[0].ResidentName != "王495" {
			t.Fatalf("page %+v", homes)
		}
		rs, err := s.Residents(ctx, 2, 0)
		must(t, err)
		if len(rs) != 2 || rs[1].ID != "r-0001" || len(rs[1].Contacts) != 2 {
			t.Fatalf("residents page %+v", rs)
		}
		fam, err := s.FamilyOf(ctx, "r-0003")
		must(t, err)
		if len(fam) != 1 || fam[0].Relation != "女儿" {
			t.Fatalf("family %+v", fam)
		}
		ids, err := s.ExistingRegistryIDs(ctx)
		must(t, err)
		if len(ids.Grids) != 2 || len(ids.Homes) != 500 || !ids.Residents["r-0499"] {
			t.Fatalf("ids %d %d %d", len(ids.Grids), len(ids.Homes), len(ids.Residents))
		}
	})
}

func TestRegistryImportAllOrNothing(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		r := community(3)
		// The last resident points at a home that does not exist: the foreign key
		// fails after grids, workers and homes were written in the same transaction.
		r.Residents[2].HomeID = "h-missing"
		if _, err := s.ImportRegistry(ctx, r); err == nil {
			t.Fatal("import with a dangling home accepted")
		}
		got, err := s.ExportRegistry(ctx)
		must(t, err)
		if len(got.Grids)+len(got.Workers)+len(got.Homes)+len(got.Residents) != 0 {
			t.Fatalf("a failed import left rows: %+v", got)
		}
	})
}

func TestWorkerDuty(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seed(t, s)
		must(t, s.SetOnDuty(ctx, "w2", true))
		w, err := s.Worker(ctx, "w2")
		must(t, err)
		if !w.OnDuty || w.Role != "worker" {
			t.Fatalf("%+v", w)
		}
		if err := s.SetOnDuty(ctx, "nobody", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown worker: %v", err)
		}
		ws, err := s.Workers(ctx, 1, 1)
		must(t, err)
		if len(ws) != 1 || ws[0].ID != "w2" {
			t.Fatalf("%+v", ws)
		}
		g, err := s.Grid(ctx, "g1")
		must(t, err)
		if g.Name != "望江 3 网格" {
			t.Fatalf("%+v", g)
		}
		if _, err := s.Grid(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown grid: %v", err)
		}
	})
}

func TestClaimAndRevoke(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seed(t, s)
		now := time.Now()
		code := credential.HashSecret("ABCD1234")
		if err := s.CreateClaimCode(ctx, "nohome", code, "admin", now, now.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("code for unknown home: %v", err)
		}
		must(t, s.CreateClaimCode(ctx, "h1", code, "admin", now, now.Add(24*time.Hour)))
		if _, err := s.ClaimGateway(ctx, credential.HashSecret("WRONG000"), "gw-hz-0002", "h", now); !errors.Is(err, ErrClaimUnknown) {
			t.Fatalf("unknown code: %v", err)
		}
		// gw-hz-0001 is provisioned (seed): a code cannot take it over.
		if _, err := s.ClaimGateway(ctx, code, "gw-hz-0001", "h", now); !errors.Is(err, ErrGatewayActive) {
			t.Fatalf("claiming an active gateway: %v", err)
		}
		secret := credential.NewSecret()
		home, err := s.ClaimGateway(ctx, code, "gw-hz-0002", credential.HashSecret(secret), now)
		must(t, err)
		if home != "h1" {
			t.Fatalf("home %q", home)
		}
		hash, err := s.GatewaySecretHash(ctx, "gw-hz-0002")
		must(t, err)
		if !credential.CheckSecret(hash, secret) {
			t.Fatal("the issued secret does not log in")
		}
		if _, err := s.ClaimGateway(ctx, code, "gw-hz-0003", "h", now); !errors.Is(err, ErrClaimUsed) {
			t.Fatalf("second use: %v", err)
		}
		// Expired codes are refused; a newer code replaces an unused older one.
		old := credential.HashSecret("OLD00000")
		must(t, s.CreateClaimCode(ctx, "h1", old, "admin", now.Add(-25*time.Hour), now.Add(-time.Hour)))
		if _, err := s.ClaimGateway(ctx, old, "gw-hz-0003", "h", now); !errors.Is(err, ErrClaimExpired) {
			t.Fatalf("expired code: %v", err)
		}
		must(t, s.CreateClaimCode(ctx, "h1", credential.HashSecret("NEW00000"), "admin", now, now.Add(time.Hour)))
		if _, err := s.ClaimGateway(ctx, old, "gw-hz-0003", "h", now); !errors.Is(err, ErrClaimUnknown) {
			t.Fatalf("replaced code: %v", err)
		}
		hr, err := s.HomeRecord(ctx, "h1")
		must(t, err)
		if hr.GatewayID == "" {
			t.Fatalf("home has no gateway: %+v", hr)
		}
		// Revoked: the hash is empty, which the broker's CheckSecret refuses.
		must(t, s.RevokeGateway(ctx, "gw-hz-0002", now))
		hash, err = s.GatewaySecretHash(ctx, "gw-hz-0002")
		must(t, err)
		if hash != "" || credential.CheckSecret(hash, secret) {
			t.Fatalf("revoked gateway still logs in (hash %q)", hash)
		}
		if err := s.RevokeGateway(ctx, "gw-nope", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoke unknown: %v", err)
		}
		// A revoked gateway may be claimed again with a fresh code.
		fresh := credential.HashSecret("FRESH000")
		must(t, s.CreateClaimCode(ctx, "h1", fresh, "admin", now, now.Add(time.Hour)))
		_, err = s.ClaimGateway(ctx, fresh, "gw-hz-0002", credential.HashSecret("s2"), now)
		must(t, err)
	})
}
