package httpapi

import (
	"strings"
	"testing"
)

// TestEveryRouteHasPermission: a new route needs a rule in
// routePermissions (without one only full-access keys may call it).
func TestEveryRouteHasPermission(t *testing.T) {
	for _, p := range Routes() {
		if _, ok := routePermissions[p]; !ok {
			t.Errorf("route %q has no rule in routePermissions", p)
		}
	}
	for p := range routePermissions {
		if !strings.Contains(strings.Join(Routes(), "\n")+"\n", p+"\n") {
			t.Errorf("rule for %q, which is not a route", p)
		}
	}
}

func TestParseAPIKey(t *testing.T) {
	for _, tt := range []struct {
		entry string
		ok    bool
	}{
		{"0123456789abcdef", true},
		{"0123456789abcdef:produce=orders*|payments;consume=*;group=billing*;admin=ops", true},
		{"0123456789abcdef:", true}, // scoped to nothing: only the any-key routes
		{":produce=x", false},
		{"0123456789abcdef:write=orders", false},
		{"0123456789abcdef:produce", false},
		{"0123456789abcdef:produce=", false},
		{"0123456789abcdef:produce=or*ders", false},
		{"0123456789abcdef:produce=**", false},
	} {
		if _, err := ParseAPIKey(tt.entry); (err == nil) != tt.ok {
			t.Errorf("ParseAPIKey(%q) = %v, want ok %v", tt.entry, err, tt.ok)
		}
	}
	k, _ := parseKey("k:produce=orders*|pay;admin=ops")
	for _, c := range []struct {
		a    action
		name string
		want bool
	}{
		{actProduce, "orders", true}, {actProduce, "orders.dlq", true}, {actProduce, "pay", true},
		{actProduce, "payments", false}, {actProduce, "order", false}, {actConsume, "orders", false},
		{actAdmin, "ops", true}, {actAdmin, "ops2", false},
	} {
		if got := k.scope.allows(c.a, c.name); got != c.want {
			t.Errorf("allows(%s, %q) = %v", c.a, c.name, got)
		}
	}
}
