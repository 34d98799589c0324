package main

import "testing"

// A node registers the addresses clients and other nodes dial: a listener
// bound to every interface is named by the host of its --peers entry.
func TestAdvertise(t *testing.T) {
	for _, c := range []struct{ addr, peer, want string }{
		{"127.0.0.1:8080", "10.0.0.1:7001", "127.0.0.1:8080"},
		{"broker-1:8080", "10.0.0.1:7001", "broker-1:8080"},
		{"[::]:8080", "10.0.0.1:7001", "10.0.0.1:8080"},
		{"0.0.0.0:9092", "node1.example:7001", "node1.example:9092"},
		{":9092", "[fd00::1]:7001", "[fd00::1]:9092"},
		{"", "10.0.0.1:7001", ""},
		{"[::]:8080", ":7001", "[::]:8080"}, // nothing better known
	} {
		if got := advertise(c.addr, c.peer); got != c.want {
			t.Errorf("advertise(%q, %q) = %q, want %q", c.addr, c.peer, got, c.want)
		}
	}
}
