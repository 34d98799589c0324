package group

import (
	"strconv"

	"github.com/abd-ulbasit/goqueue/api"
)

// MaxIDLen is the longest member, instance or client ID, as for group IDs
// and topic names.
const MaxIDLen = 249

// quoteLen is how much of a refused ID an error quotes: an error never
// echoes a long ID whole.
const quoteLen = 32

// ValidateID reports whether id, the value of field (member_id,
// instance_id, client_id), is 1–MaxIDLen characters of printable ASCII
// without spaces (0x21–0x7E), so IDs are safe in logs, headers and
// metrics labels. The error is an api.ErrInvalidArgument with the field and
// the bound in details.
func ValidateID(field, id string) error {
	bad := func(why string) error {
		q := strconv.QuoteToASCII(id)
		if len(id) > quoteLen {
			q = strconv.QuoteToASCII(id[:quoteLen]) + "..."
		}
		return api.ErrInvalidArgument.Withf("%s %s %s", field, q, why).
			WithDetail("field", field).WithDetail("max_length", MaxIDLen)
	}
	switch {
	case id == "":
		return bad("is empty")
	case len(id) > MaxIDLen:
		return bad("is longer than " + strconv.Itoa(MaxIDLen) + " characters")
	}
	for i := range len(id) {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return bad("holds a character that is not printable ASCII (or is a space)")
		}
	}
	return nil
}

// checkIDs validates the IDs a join names; empty ones name nothing.
func checkIDs(p JoinParams) error {
	for _, f := range [...]struct{ field, id string }{
		{"member_id", p.MemberID}, {"instance_id", p.InstanceID}, {"client_id", p.ClientID},
	} {
		if f.id == "" {
			continue
		}
		if err := ValidateID(f.field, f.id); err != nil {
			return err
		}
	}
	return nil
}
