package kafka

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// errAuthFailed closes a connection after its failed authentication is answered.
var errAuthFailed = errors.New("kafka: SASL authentication failed")

// saslPlain is the one mechanism offered: the password is an API key.
const saslPlain = "PLAIN"

func (s *Server) saslHandshake(_ context.Context, c *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SetVersion(req.Version)
	resp.SupportedMechanisms = []string{saslPlain}
	if req.Mechanism != saslPlain {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return resp, nil
	}
	c.saslMech = saslPlain
	return resp, nil
}

// saslAuthenticate checks a PLAIN exchange ("authzid\0user\0password"): the
// password must be one of the broker's API keys; the user name is free. A
// failure is answered, then the connection closes, as Kafka does.
func (s *Server) saslAuthenticate(_ context.Context, c *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	resp.SetVersion(req.Version)
	if c.saslMech != saslPlain {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslHandshake with PLAIN must come first"
		resp.ErrorMessage = &msg
		return resp, nil
	}
	parts := bytes.SplitN(req.SASLAuthBytes, []byte{0}, 3)
	full, scoped := false, false
	if len(parts) == 3 {
		full, scoped = s.keyKind(parts[2])
	}
	if full {
		c.authenticated = true
		return resp, nil
	}
	resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
	msg := "invalid user name or password (the password is a GoQueue API key)"
	if scoped {
		msg = "a scoped API key is for the HTTP API only; over Kafka the password is a full-access key"
	}
	resp.ErrorMessage = &msg
	return resp, errAuthFailed
}

// keyKind compares key with the secret of every API key, in constant
// time: whether it is a full-access key's, or a scoped key's. Digests are
// compared, as the HTTP API compares them: ConstantTimeCompare returns at
// once for slices of different lengths, so comparing the keys themselves
// told a guesser how long each key is.
func (s *Server) keyKind(key []byte) (full, scoped bool) {
	given := sha256.Sum256(key)
	f, sc := 0, 0
	for _, entry := range s.opts.APIKeys {
		secret, _, isScoped := strings.Cut(entry, ":")
		want := sha256.Sum256([]byte(secret))
		eq := subtle.ConstantTimeCompare(given[:], want[:])
		if isScoped {
			sc |= eq
		} else {
			f |= eq
		}
	}
	return f == 1, sc == 1
}
