package kafka_test

import (
	"context"

	"github.com/twmb/franz-go/pkg/sasl"
)

// plainMech is SASL PLAIN for kgo (its plain package is a separate import
// path of the same module; this keeps the test's dependencies explicit).
type plainMech struct{ user, pass string }

func (plainMech) Name() string { return "PLAIN" }

func (m plainMech) Authenticate(context.Context, string) (sasl.Session, []byte, error) {
	return plainSession{}, []byte("\x00" + m.user + "\x00" + m.pass), nil
}

type plainSession struct{}

func (plainSession) Challenge([]byte) (bool, []byte, error) { return true, nil, nil }
