package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the suffixes a size flag accepts, longest first so "KiB"
// is not read as "B".
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// parseSize reads a byte count: a whole number with an optional unit
// (1048576, 1MiB, 64MB). -1 is accepted for "unbounded" settings.
func parseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, errors.New("must be a whole number of bytes, optionally with a unit (KiB, MiB, GiB, KB, MB, GB)")
	}
	if n != 0 && (n > math.MaxInt64/mult || n < math.MinInt64/mult) {
		return 0, errors.New("is too large")
	}
	return n * mult, nil
}

// formatSize writes n with the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []int{3, 2, 1, 0} { // TiB, GiB, MiB, KiB
		if m := sizeUnits[u].mult; n != 0 && n%m == 0 {
			return fmt.Sprintf("%d%s", n/m, sizeUnits[u].suffix)
		}
	}
	return strconv.FormatInt(n, 10)
}

// size is an int64 byte-count flag.
type size struct{ p *int64 }

func newSize(p *int64, def int64) *size { *p = def; return &size{p} }

func (s *size) String() string { return formatSize(*s.p) }
func (s *size) Type() string   { return "bytes" }
func (s *size) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s.p = n
	return nil
}

// size32 is an int32 byte-count flag.
type size32 struct{ p *int32 }

func newSize32(p *int32, def int32) *size32 { *p = def; return &size32{p} }

func (s *size32) String() string { return formatSize(int64(*s.p)) }
func (s *size32) Type() string   { return "bytes" }
func (s *size32) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	if n > math.MaxInt32 || n < math.MinInt32 {
		return errors.New("is too large")
	}
	*s.p = int32(n)
	return nil
}
