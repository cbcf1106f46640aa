// Package authz is the one table of who may do what. It denies by default: an action
// not in the table, or a role not listed for it, is refused. Which objects a user may
// touch (their grid's homes, their parent's home) is the scope, checked per object by
// the API; what a resident lets each role see is their privacy choice (store).
package authz

import (
	"fmt"
	"slices"
)

// Roles.
const (
	Admin      = "admin"      // runs the system
	Supervisor = "supervisor" // a community's grids
	Worker     = "worker"     // grid worker (网格员): their grid's homes
	Technician = "technician" // device faults of their grid
	Family     = "family"     // residents who invited them
	Resident   = "resident"   // themself
)

// Roles lists every role; a user with another role can do nothing.
var Roles = []string{Admin, Supervisor, Worker, Technician, Family, Resident}

// Action is something a request does.
type Action string

// Actions.
const (
	ReadAlerts      Action = "alerts.read"
	ReadIncidents   Action = "incidents.read"
	ActOnIncident   Action = "incidents.act"      // accept, arrive, resolve
	GiveFeedback    Action = "incidents.feedback" // feedback, evaluate
	ReadKPIs        Action = "kpis.read"
	ReadPrivacy     Action = "privacy.read"
	WritePrivacy    Action = "privacy.write"
	ReadAudit       Action = "audit.read"
	ManageUsers     Action = "users.write"
	WriteSettings   Action = "settings.write" // away mode, thresholds
	ReadSettings    Action = "settings.read"
	ReadTelemetry   Action = "telemetry.read"
	ManageRegistry  Action = "registry.write"
	ReadRegistry    Action = "registry.read"
	ProvisionDevice Action = "gateways.provision"
	InviteFamily    Action = "family.invite" // the resident's consent to be followed
	ExportData      Action = "data.export"   // a copy of everything held about a resident
	EraseData       Action = "data.erase"    // delete it, cloud and gateway
	ReadMedical     Action = "medical.read"  // further limited by the resident's choice
	ReadContacts    Action = "contacts.read" // phone numbers to call; limited by the resident's choice
	ReadGateways    Action = "gateways.read" // liveness and open device faults
	ReadEscalations Action = "escalations.read"
	VerifyAudit     Action = "audit.verify" // walk the whole chain
	ReadFollowed    Action = "me.homes"     // the homes one follows or lives in
	// ChooseNotifications: how one is told of one's parent (channels, kinds), and
	// the messages one was sent.
	ChooseNotifications Action = "me.notifications"
	// SetDuty starts or ends a shift: one's own (worker, technician) or that of a
	// worker of one's community (supervisor).
	SetDuty Action = "workers.duty"
	// ReadWorkers lists workers: all for admins, a supervisor's community's.
	ReadWorkers Action = "workers.read"
)

var table = map[Action][]string{}

func allow(a Action, roles ...string) {
	if _, dup := table[a]; dup {
		// A second registration would silently widen or narrow access: refuse to start.
		panic(fmt.Sprintf("authz: action %s registered twice", a))
	}
	for _, r := range roles {
		if !slices.Contains(Roles, r) {
			panic(fmt.Sprintf("authz: action %s names unknown role %q", a, r))
		}
	}
	table[a] = roles
}

func init() {
	allow(ReadAlerts, Admin, Supervisor, Worker, Technician, Family, Resident)
	allow(ReadIncidents, Admin, Supervisor, Worker, Technician, Family, Resident)
	allow(ActOnIncident, Admin, Supervisor, Worker, Technician)
	allow(GiveFeedback, Admin, Family, Resident)
	allow(ReadKPIs, Admin, Supervisor)
	allow(ReadPrivacy, Admin, Supervisor, Worker, Family, Resident)
	allow(WritePrivacy, Admin, Resident)
	allow(ReadAudit, Admin, Family, Resident)
	allow(ManageUsers, Admin)
	allow(WriteSettings, Admin, Supervisor, Worker, Family)
	allow(ReadSettings, Admin, Supervisor, Worker, Family, Resident)
	allow(ReadTelemetry, Admin, Supervisor, Worker, Family, Resident)
	allow(ManageRegistry, Admin)
	// The registry's lists are not scoped to a community yet: admins only, until
	// they are (a supervisor would see every community's residents).
	allow(ReadRegistry, Admin)
	allow(ProvisionDevice, Admin)
	allow(InviteFamily, Admin, Resident)
	allow(ExportData, Admin, Resident)
	allow(EraseData, Admin)
	allow(ReadMedical, Admin, Supervisor, Worker, Family, Resident)
	allow(ReadContacts, Admin, Supervisor, Worker, Family, Resident)
	allow(ReadGateways, Admin, Supervisor, Technician)
	allow(ReadEscalations, Admin, Supervisor)
	allow(VerifyAudit, Admin)
	allow(ReadFollowed, Family, Resident)
	allow(SetDuty, Admin, Supervisor, Worker, Technician)
	allow(ReadWorkers, Admin, Supervisor)
	allow(ChooseNotifications, Family)
}

// Allowed reports whether role may do a.
func Allowed(role string, a Action) bool {
	return slices.Contains(table[a], role)
}

// Table returns a copy of the table (for docs and tests).
func Table() map[Action][]string {
	out := make(map[Action][]string, len(table))
	for a, r := range table {
		out[a] = slices.Clone(r)
	}
	return out
}
