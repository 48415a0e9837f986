package creds

import (
	"time"

	"mtls-reference/recipes/go/internal/report"
)

// RoleStats: the stats fields a role (of any Go recipe binary) fills from its
// credentials; the role adds its requests and its last error.
func RoleStats(technology, role, workload string, st Status, working string) report.Stats {
	out := report.Stats{
		Technology: technology, Role: role, Workload: workload,
		Reloads: st.Reloads, FailedReloads: st.FailedReloads,
		State: RoleState(st, working),
	}
	if c := st.Current; c != nil {
		out.Serial, out.NotAfter = c.Serial, Timestamp(c.NotAfter)
		out.LastReloadAt = Timestamp(st.LastReloadAt)
	}
	return out
}

// RoleState: waiting before the first certificate, failing when the files
// are refused with nothing to fall back on or the certificate in use has
// expired, else the role's working state.
func RoleState(st Status, working string) string {
	switch c := st.Current; {
	case c == nil && st.Refusing:
		return "failing"
	case c == nil:
		return "waiting"
	case time.Now().After(c.NotAfter):
		return "failing"
	}
	return working
}
