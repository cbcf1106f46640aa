package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Resident is an elderly person living in a home. Medical notes are not here on
// purpose: they are sensitive and read only through ResidentMedical, so a privacy
// rule has one place to withhold them.
type Resident struct {
	ID, HomeID, Name, Phone string
	Contacts                []EmergencyContact
}

// EmergencyContact is someone to call when the resident cannot be reached; the order
// in Resident.Contacts is the calling order.
type EmergencyContact struct {
	Name, Relation, Phone string
}

// FamilyMember is a relative linked to a resident (a future app login).
type FamilyMember struct {
	ID, ResidentID, Name, Relation, Phone string
}

// Sensor is one sensor installed in a home.
type Sensor struct {
	ID, Kind string
}

// HomeRecord is a home with what is installed there.
type HomeRecord struct {
	Home
	GatewayID string // the active (not revoked) gateway bound to the home, if any
	Sensors   []Sensor
}

// Registry is everything bulk onboarding writes: the registry of one or more
// communities. Medical maps resident ID to their medical notes.
type Registry struct {
	Grids     []Grid
	Workers   []Worker
	Homes     []HomeRecord
	Residents []Resident
	Family    []FamilyMember
	Medical   map[string]string
}

// RegistryCounts says how many records of each kind an import wrote.
type RegistryCounts struct {
	Grids     int `json:"grids"`
	Workers   int `json:"workers"`
	Homes     int `json:"homes"`
	Residents int `json:"residents"`
	Contacts  int `json:"contacts"`
	Family    int `json:"family"`
}

// RegistryIDs are the IDs already stored, so an import can refer to records it
// does not itself contain.
type RegistryIDs struct {
	Grids, Homes, Residents map[string]bool
}

// ImportRegistry writes r in one transaction: all of it or, on any error, none.
// Records are inserted or updated by ID. For every resident in r its contacts and
// medical notes are replaced by r's (an empty note deletes it); for every home in r
// its sensors are replaced, and homes.resident_name (what the dispatcher shows) is
// recomputed from the home's residents when it has any.
func (s *Store) ImportRegistry(ctx context.Context, r Registry) (RegistryCounts, error) {
	var n RegistryCounts
	now := ms(time.Now())
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, g := range r.Grids {
			if _, err := tx.ExecContext(ctx, `INSERT INTO grids (id, name, community) VALUES ($1, $2, $3)
				ON CONFLICT (id) DO UPDATE SET name = excluded.name, community = excluded.community`, g.ID, g.Name, g.Community); err != nil {
				return fmt.Errorf("grid %s: %w", g.ID, err)
			}
			n.Grids++
		}
		for _, w := range r.Workers {
			if w.Role == "" {
				w.Role = "worker"
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO workers (id, grid_id, name, phone, on_duty, role) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (id) DO UPDATE SET grid_id = excluded.grid_id, name = excluded.name, phone = excluded.phone, on_duty = excluded.on_duty, role = excluded.role`,
				w.ID, w.GridID, w.Name, w.Phone, boolInt(w.OnDuty), w.Role); err != nil {
				return fmt.Errorf("worker %s: %w", w.ID, err)
			}
			n.Workers++
		}
		for _, h := range r.Homes {
			// resident_name is left alone here: it is derived from residents below.
			if _, err := tx.ExecContext(ctx, `INSERT INTO homes (id, grid_id, address, resident_name) VALUES ($1, $2, $3, $4)
				ON CONFLICT (id) DO UPDATE SET grid_id = excluded.grid_id, address = excluded.address`, h.ID, h.GridID, h.Address, h.ResidentName); err != nil {
				return fmt.Errorf("home %s: %w", h.ID, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM home_sensors WHERE home_id = $1`, h.ID); err != nil {
				return fmt.Errorf("home %s sensors: %w", h.ID, err)
			}
			for _, sn := range h.Sensors {
				if _, err := tx.ExecContext(ctx, `INSERT INTO home_sensors (home_id, sensor_id, kind) VALUES ($1, $2, $3)`, h.ID, sn.ID, sn.Kind); err != nil {
					return fmt.Errorf("home %s sensor %s: %w", h.ID, sn.ID, err)
				}
			}
			n.Homes++
		}
		touched := map[string]bool{}
		for _, p := range r.Residents {
			if _, err := tx.ExecContext(ctx, `INSERT INTO residents (id, home_id, name, phone) VALUES ($1, $2, $3, $4)
				ON CONFLICT (id) DO UPDATE SET home_id = excluded.home_id, name = excluded.name, phone = excluded.phone`, p.ID, p.HomeID, p.Name, p.Phone); err != nil {
				return fmt.Errorf("resident %s: %w", p.ID, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM emergency_contacts WHERE resident_id = $1`, p.ID); err != nil {
				return fmt.Errorf("resident %s contacts: %w", p.ID, err)
			}
			for i, c := range p.Contacts {
				if _, err := tx.ExecContext(ctx, `INSERT INTO emergency_contacts (resident_id, seq, name, relation, phone) VALUES ($1, $2, $3, $4, $5)`,
					p.ID, i+1, c.Name, c.Relation, c.Phone); err != nil {
					return fmt.Errorf("resident %s contact %d: %w", p.ID, i+1, err)
				}
				n.Contacts++
			}
			if err := putMedical(ctx, tx, p.ID, r.Medical[p.ID], now); err != nil {
				return err
			}
			touched[p.HomeID] = true
			n.Residents++
		}
		for _, f := range r.Family {
			if _, err := tx.ExecContext(ctx, `INSERT INTO family_members (id, resident_id, name, relation, phone) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (id) DO UPDATE SET resident_id = excluded.resident_id, name = excluded.name, relation = excluded.relation, phone = excluded.phone`,
				f.ID, f.ResidentID, f.Name, f.Relation, f.Phone); err != nil {
				return fmt.Errorf("family member %s: %w", f.ID, err)
			}
			n.Family++
		}
		homes := make([]string, 0, len(touched))
		for h := range touched {
			homes = append(homes, h)
		}
		sort.Strings(homes)
		for _, h := range homes {
			if err := syncResidentName(ctx, tx, h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return RegistryCounts{}, fmt.Errorf("import registry: %w", err)
	}
	return n, nil
}

func putMedical(ctx context.Context, tx *sql.Tx, resident, notes string, now int64) error {
	var err error
	if notes == "" {
		_, err = tx.ExecContext(ctx, `DELETE FROM resident_medical WHERE resident_id = $1`, resident)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO resident_medical (resident_id, notes, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (resident_id) DO UPDATE SET notes = excluded.notes, updated_at = excluded.updated_at`, resident, notes, now)
	}
	if err != nil {
		return fmt.Errorf("resident %s medical notes: %w", resident, err)
	}
	return nil
}

// syncResidentName keeps homes.resident_name, which alerts, incidents and pages
// show, equal to the home's residents' names.
func syncResidentName(ctx context.Context, tx *sql.Tx, home string) error {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM residents WHERE home_id = $1 ORDER BY id`, home)
	if err != nil {
		return fmt.Errorf("home %s residents: %w", home, err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE homes SET resident_name = $1 WHERE id = $2`, strings.Join(names, "、"), home); err != nil {
		return fmt.Errorf("home %s resident name: %w", home, err)
	}
	return nil
}

// ExportRegistry reads the whole registry, every list ordered by ID, in one
// transaction so the export is a consistent snapshot.
func (s *Store) ExportRegistry(ctx context.Context) (Registry, error) {
	var r Registry
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if r.Grids, err = grids(ctx, tx, -1, 0); err != nil {
			return err
		}
		if r.Workers, err = workers(ctx, tx, "", -1, 0); err != nil {
			return err
		}
		if r.Homes, err = homes(ctx, tx, "", -1, 0); err != nil {
			return err
		}
		if r.Residents, err = residents(ctx, tx, "", -1, 0); err != nil {
			return err
		}
		if r.Family, err = family(ctx, tx, ""); err != nil {
			return err
		}
		r.Medical = map[string]string{}
		return scanRows(ctx, tx, `SELECT resident_id, notes FROM resident_medical`, nil, func(sc func(...any) error) error {
			var id, notes string
			if err := sc(&id, &notes); err != nil {
				return err
			}
			r.Medical[id] = notes
			return nil
		})
	})
	if err != nil {
		return Registry{}, fmt.Errorf("export registry: %w", err)
	}
	return r, nil
}

// ExistingRegistryIDs returns the IDs of stored grids, homes and residents.
func (s *Store) ExistingRegistryIDs(ctx context.Context) (RegistryIDs, error) {
	ids := RegistryIDs{Grids: map[string]bool{}, Homes: map[string]bool{}, Residents: map[string]bool{}}
	for table, m := range map[string]map[string]bool{"grids": ids.Grids, "homes": ids.Homes, "residents": ids.Residents} {
		err := scanRows(ctx, s.db, `SELECT id FROM `+table, nil, func(sc func(...any) error) error {
			var id string
			if err := sc(&id); err != nil {
				return err
			}
			m[id] = true
			return nil
		})
		if err != nil {
			return ids, fmt.Errorf("existing %s: %w", table, err)
		}
	}
	return ids, nil
}

// Grids lists grids by ID; limit < 0 means all.
func (s *Store) Grids(ctx context.Context, limit, offset int) ([]Grid, error) {
	return grids(ctx, s.db, limit, offset)
}

// Grid returns one grid or ErrNotFound.
func (s *Store) Grid(ctx context.Context, id string) (Grid, error) {
	var g Grid
	err := s.db.QueryRowContext(ctx, `SELECT id, name, community FROM grids WHERE id = $1`, id).Scan(&g.ID, &g.Name, &g.Community)
	return g, rowErr(err, "grid "+id)
}

// Workers lists workers by ID; limit < 0 means all.
func (s *Store) Workers(ctx context.Context, limit, offset int) ([]Worker, error) {
	return workers(ctx, s.db, "", limit, offset)
}

// CommunityWorkers lists the workers of a community's grids by ID (a supervisor's
// staff); none for an empty community.
func (s *Store) CommunityWorkers(ctx context.Context, community string, limit, offset int) ([]Worker, error) {
	if community == "" {
		return []Worker{}, nil
	}
	return workers(ctx, s.db, community, limit, offset)
}

// Worker returns one worker or ErrNotFound.
func (s *Store) Worker(ctx context.Context, id string) (Worker, error) {
	var w Worker
	var on int
	err := s.db.QueryRowContext(ctx, `SELECT id, grid_id, name, phone, on_duty, role FROM workers WHERE id = $1`, id).
		Scan(&w.ID, &w.GridID, &w.Name, &w.Phone, &on, &w.Role)
	w.OnDuty = on == 1
	return w, rowErr(err, "worker "+id)
}

// SetOnDuty starts or ends a worker's shift: only on-duty workers are paged first.
func (s *Store) SetOnDuty(ctx context.Context, id string, on bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE workers SET on_duty = $1 WHERE id = $2`, boolInt(on), id)
	if err != nil {
		return fmt.Errorf("worker %s on duty: %w", id, err)
	}
	return affectedOne(res, "worker "+id)
}

// Homes lists homes by ID with their sensors and gateway; limit < 0 means all.
func (s *Store) Homes(ctx context.Context, limit, offset int) ([]HomeRecord, error) {
	return homes(ctx, s.db, "", limit, offset)
}

// HomeRecord returns one home or ErrNotFound.
func (s *Store) HomeRecord(ctx context.Context, id string) (HomeRecord, error) {
	hs, err := homes(ctx, s.db, id, 1, 0)
	if err != nil {
		return HomeRecord{}, err
	}
	if len(hs) == 0 {
		return HomeRecord{}, ErrNotFound
	}
	return hs[0], nil
}

// Residents lists residents by ID with their emergency contacts; limit < 0 means all.
func (s *Store) Residents(ctx context.Context, limit, offset int) ([]Resident, error) {
	return residents(ctx, s.db, "", limit, offset)
}

// Resident returns one resident with contacts, or ErrNotFound.
func (s *Store) Resident(ctx context.Context, id string) (Resident, error) {
	rs, err := residents(ctx, s.db, id, 1, 0)
	if err != nil {
		return Resident{}, err
	}
	if len(rs) == 0 {
		return Resident{}, ErrNotFound
	}
	return rs[0], nil
}

// FamilyOf lists the family members linked to a resident.
func (s *Store) FamilyOf(ctx context.Context, residentID string) ([]FamilyMember, error) {
	return family(ctx, s.db, residentID)
}

// ResidentMedical returns a resident's medical notes ("" when none), or ErrNotFound
// when there is no such resident. Callers decide who may see them.
func (s *Store) ResidentMedical(ctx context.Context, residentID string) (string, error) {
	var notes sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT m.notes FROM residents r LEFT JOIN resident_medical m ON m.resident_id = r.id WHERE r.id = $1`, residentID).Scan(&notes)
	return notes.String, rowErr(err, "resident "+residentID)
}

// Claim-code failures, told apart so the installer learns what to do.
var (
	ErrClaimUnknown  = errors.New("unknown claim code")
	ErrClaimUsed     = errors.New("claim code already used")
	ErrClaimExpired  = errors.New("claim code expired")
	ErrGatewayActive = errors.New("gateway is already provisioned; revoke it first")
)

// CreateClaimCode stores the hash of a new one-time code for home, valid until
// expires. Older unused codes of the home are dropped: one outstanding code per
// home is all an installer needs and all an attacker could guess at.
func (s *Store) CreateClaimCode(ctx context.Context, homeID, codeHash, by string, now, expires time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM homes WHERE id = $1`, homeID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM claim_codes WHERE home_id = $1 AND used_at IS NULL`, homeID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO claim_codes (code_hash, home_id, created_at, expires_at, created_by) VALUES ($1, $2, $3, $4, $5)`,
			codeHash, homeID, ms(now), ms(expires), by)
		return err
	})
	if err != nil {
		return fmt.Errorf("claim code for home %s: %w", homeID, err)
	}
	return nil
}

// ClaimGateway spends a claim code: gatewayID is bound to the code's home with
// secretHash as its MQTT secret. It returns the home ID. A gateway that is already
// provisioned (non-empty secret) is refused, so a code cannot take over a working
// gateway's identity; a revoked one may be claimed again.
//
// beforeCommit, if given, runs inside the transaction once the code is good (e.g. to
// make the broker login); its error rolls the claim back, so the code stays usable.
func (s *Store) ClaimGateway(ctx context.Context, codeHash, gatewayID, secretHash string, now time.Time, beforeCommit ...func(home string) error) (string, error) {
	var home string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var expires int64
		var used sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT home_id, expires_at, used_at FROM claim_codes WHERE code_hash = $1`, codeHash).Scan(&home, &expires, &used)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrClaimUnknown
		case err != nil:
			return err
		case used.Valid:
			return ErrClaimUsed
		case expires <= ms(now):
			return ErrClaimExpired
		}
		var hash string
		err = tx.QueryRowContext(ctx, `SELECT secret_hash FROM gateways WHERE id = $1`, gatewayID).Scan(&hash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if hash != "" {
			return ErrGatewayActive
		}
		// The guarded UPDATE is what makes the code one-time when two claims race:
		// only one of them sees used_at still NULL.
		res, err := tx.ExecContext(ctx, `UPDATE claim_codes SET used_at = $1, gateway_id = $2 WHERE code_hash = $3 AND used_at IS NULL`, ms(now), gatewayID, codeHash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return ErrClaimUsed
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO gateways (id, home_id, secret_hash, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET home_id = excluded.home_id, secret_hash = excluded.secret_hash, revoked_at = NULL`,
			gatewayID, home, secretHash, ms(now))
		if err != nil {
			return err
		}
		for _, f := range beforeCommit {
			if err := f(home); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("claim gateway %s: %w", gatewayID, err)
	}
	return home, nil
}

// RevokeGateway clears a gateway's secret hash: the broker refuses an empty hash,
// so the gateway cannot log in again until it is claimed anew.
func (s *Store) RevokeGateway(ctx context.Context, id string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE gateways SET secret_hash = '', revoked_at = $1 WHERE id = $2`, ms(now), id)
	if err != nil {
		return fmt.Errorf("revoke gateway %s: %w", id, err)
	}
	return affectedOne(res, "gateway "+id)
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func scanRows(ctx context.Context, q querier, query string, args []any, each func(scan func(...any) error) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// page appends LIMIT/OFFSET; limit < 0 means no limit.
func page(q string, args []any, limit, offset int) (string, []any) {
	if limit < 0 {
		return q, args
	}
	n := len(args)
	return q + fmt.Sprintf(" LIMIT $%d OFFSET $%d", n+1, n+2), append(args, limit, offset)
}

func grids(ctx context.Context, q querier, limit, offset int) ([]Grid, error) {
	query, args := page(`SELECT id, name, community FROM grids ORDER BY id`, nil, limit, offset)
	list := []Grid{}
	err := scanRows(ctx, q, query, args, func(sc func(...any) error) error {
		var g Grid
		if err := sc(&g.ID, &g.Name, &g.Community); err != nil {
			return err
		}
		list = append(list, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list grids: %w", err)
	}
	return list, nil
}

func workers(ctx context.Context, q querier, community string, limit, offset int) ([]Worker, error) {
	query, args := `SELECT w.id, w.grid_id, w.name, w.phone, w.on_duty, w.role FROM workers w`, []any{}
	if community != "" {
		query, args = query+` JOIN grids g ON g.id = w.grid_id WHERE g.community = $1`, append(args, community)
	}
	query, args = page(query+` ORDER BY w.id`, args, limit, offset)
	list := []Worker{}
	err := scanRows(ctx, q, query, args, func(sc func(...any) error) error {
		var w Worker
		var on int
		if err := sc(&w.ID, &w.GridID, &w.Name, &w.Phone, &on, &w.Role); err != nil {
			return err
		}
		w.OnDuty = on == 1
		list = append(list, w)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	return list, nil
}

// homes lists homes (one when id is set) and fills in sensors and gateways with
// one query each for the page, not one per home.
func homes(ctx context.Context, q querier, id string, limit, offset int) ([]HomeRecord, error) {
	query, args := `SELECT id, grid_id, address, resident_name FROM homes`, []any{}
	if id != "" {
		query, args = query+` WHERE id = $1`, append(args, id)
	}
	query, args = page(query+` ORDER BY id`, args, limit, offset)
	list := []HomeRecord{}
	idx := map[string]int{}
	err := scanRows(ctx, q, query, args, func(sc func(...any) error) error {
		var h HomeRecord
		if err := sc(&h.ID, &h.GridID, &h.Address, &h.ResidentName); err != nil {
			return err
		}
		h.Sensors = []Sensor{}
		idx[h.ID] = len(list)
		list = append(list, h)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list homes: %w", err)
	}
	if len(list) == 0 {
		return list, nil
	}
	in, inArgs := inList(list, limit < 0 && id == "", func(h HomeRecord) string { return h.ID })
	err = scanRows(ctx, q, `SELECT home_id, sensor_id, kind FROM home_sensors WHERE `+in("home_id")+` ORDER BY home_id, sensor_id`, inArgs, func(sc func(...any) error) error {
		var home string
		var sn Sensor
		if err := sc(&home, &sn.ID, &sn.Kind); err != nil {
			return err
		}
		if i, ok := idx[home]; ok {
			list[i].Sensors = append(list[i].Sensors, sn)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("home sensors: %w", err)
	}
	err = scanRows(ctx, q, `SELECT home_id, id FROM gateways WHERE secret_hash <> '' AND `+in("home_id")+` ORDER BY id`, inArgs, func(sc func(...any) error) error {
		var home sql.NullString
		var gw string
		if err := sc(&home, &gw); err != nil {
			return err
		}
		if i, ok := idx[home.String]; ok {
			list[i].GatewayID = gw
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("home gateways: %w", err)
	}
	return list, nil
}

func residents(ctx context.Context, q querier, id string, limit, offset int) ([]Resident, error) {
	return residentsWhere(ctx, q, "id", id, limit, offset)
}

// residentsWhere lists residents whose column (id or home_id) is value, or all
// when value is "".
func residentsWhere(ctx context.Context, q querier, column, value string, limit, offset int) ([]Resident, error) {
	query, args := `SELECT id, home_id, name, phone FROM residents`, []any{}
	if value != "" {
		query, args = query+` WHERE `+column+` = $1`, append(args, value)
	}
	query, args = page(query+` ORDER BY id`, args, limit, offset)
	list := []Resident{}
	idx := map[string]int{}
	err := scanRows(ctx, q, query, args, func(sc func(...any) error) error {
		var p Resident
		if err := sc(&p.ID, &p.HomeID, &p.Name, &p.Phone); err != nil {
			return err
		}
		p.Contacts = []EmergencyContact{}
		idx[p.ID] = len(list)
		list = append(list, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list residents: %w", err)
	}
	if len(list) == 0 {
		return list, nil
	}
	in, inArgs := inList(list, limit < 0 && value == "", func(p Resident) string { return p.ID })
	err = scanRows(ctx, q, `SELECT resident_id, name, relation, phone FROM emergency_contacts WHERE `+in("resident_id")+` ORDER BY resident_id, seq`, inArgs, func(sc func(...any) error) error {
		var rid string
		var c EmergencyContact
		if err := sc(&rid, &c.Name, &c.Relation, &c.Phone); err != nil {
			return err
		}
		if i, ok := idx[rid]; ok {
			list[i].Contacts = append(list[i].Contacts, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("emergency contacts: %w", err)
	}
	return list, nil
}

func family(ctx context.Context, q querier, residentID string) ([]FamilyMember, error) {
	query, args := `SELECT id, resident_id, name, relation, phone FROM family_members ORDER BY id`, []any(nil)
	if residentID != "" {
		query, args = `SELECT id, resident_id, name, relation, phone FROM family_members WHERE resident_id = $1 ORDER BY id`, []any{residentID}
	}
	list := []FamilyMember{}
	err := scanRows(ctx, q, query, args, func(sc func(...any) error) error {
		var f FamilyMember
		if err := sc(&f.ID, &f.ResidentID, &f.Name, &f.Relation, &f.Phone); err != nil {
			return err
		}
		list = append(list, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list family members: %w", err)
	}
	return list, nil
}

// inList returns a condition "col IN ($1, …)" over the IDs of list, or, when all
// rows were read (an export), a condition that is always true: a whole registry
// has more IDs than PostgreSQL (65535) or SQLite (32766) take as parameters.
func inList[T any](list []T, all bool, id func(T) string) (func(col string) string, []any) {
	if all {
		return func(string) string { return "1 = 1" }, nil
	}
	var b strings.Builder
	args := make([]any, len(list))
	for i, v := range list {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i+1)
		args[i] = id(v)
	}
	return func(col string) string { return col + " IN (" + b.String() + ")" }, args
}

func rowErr(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func affectedOne(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// HomeResidents lists who lives in a home, each with their emergency contacts in
// calling order. Callers decide who may see them (the contacts data kind).
func (s *Store) HomeResidents(ctx context.Context, homeID string) ([]Resident, error) {
	return residentsWhere(ctx, s.db, "home_id", homeID, -1, 0)
}

// ResidentHome returns the home a resident lives in.
func (s *Store) ResidentHome(ctx context.Context, residentID string) (string, error) {
	var home string
	err := s.db.QueryRowContext(ctx, `SELECT home_id FROM residents WHERE id = $1`, residentID).Scan(&home)
	return home, rowErr(err, "resident "+residentID)
}
