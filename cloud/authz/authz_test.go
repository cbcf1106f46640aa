package authz

import "testing"

func TestDenyByDefault(t *testing.T) {
	if Allowed(Admin, "nonsense.do") {
		t.Fatal("an unregistered action is allowed")
	}
	if Allowed("root", ReadAlerts) {
		t.Fatal("an unknown role is allowed")
	}
	for _, tt := range []struct {
		role string
		a    Action
		want bool
	}{
		{Family, ActOnIncident, false},
		{Worker, ActOnIncident, true},
		{Worker, WritePrivacy, false},
		{Resident, WritePrivacy, true},
		{Technician, ReadKPIs, false},
		{Family, GiveFeedback, true},
		{Worker, ManageUsers, false},
		{Supervisor, ReadGateways, true},
		{Worker, ReadGateways, false},
		{Family, ReadEscalations, false},
		{Supervisor, VerifyAudit, false},
		{Family, ChooseNotifications, true},
		{Resident, ChooseNotifications, false},
		{Worker, ChooseNotifications, false},
		{Worker, ReadFollowed, false},
	} {
		if got := Allowed(tt.role, tt.a); got != tt.want {
			t.Errorf("%s %s: %v, want %v", tt.role, tt.a, got, tt.want)
		}
	}
}

func TestDuplicateRegistrationPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a second registration of an action was accepted")
		}
	}()
	allow(ReadAlerts, Admin)
}
