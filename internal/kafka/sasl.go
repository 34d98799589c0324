package kafka

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

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
	c.saslBare = req.Version == 0
	return resp, nil
}

// saslAuthenticate checks a PLAIN exchange (see checkPlain) after a
// SaslHandshake v1. A failure is answered, then the connection closes, as
// Kafka does.
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
	if msg := s.checkPlain(req.SASLAuthBytes); msg != "" {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = &msg
		return resp, errAuthFailed
	}
	c.authenticated = true
	return resp, nil
}

// plainBare checks the PLAIN token that follows a SaslHandshake v0, as
// Kafka takes it (KIP-43): the frame is the token itself, with no request
// header and no SaslAuthenticate around it. sarama with Net.SASL.Version
// 0 and kafka-python 2.0.2 authenticate so. Success is answered with an
// empty token in a frame of its own; a failure has no answer in this
// exchange, and the connection closes, as Kafka closes it.
func (c *conn) plainBare(token []byte) error {
	c.saslBare = false
	if msg := c.s.checkPlain(token); msg != "" {
		return fmt.Errorf("%w: %s", errAuthFailed, msg)
	}
	c.authenticated = true
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write([]byte{0, 0, 0, 0})
	return err
}

// checkPlain checks a PLAIN token ("authzid\0user\0password"): the
// password must be one of the broker's full-access API keys; the user
// name is free. It returns why the token is refused, or "".
func (s *Server) checkPlain(token []byte) string {
	parts := bytes.SplitN(token, []byte{0}, 3)
	full, scoped := false, false
	if len(parts) == 3 {
		full, scoped = s.keyKind(parts[2])
	}
	switch {
	case full:
		return ""
	case scoped:
		return "a scoped API key is for the HTTP API only; over Kafka the password is a full-access key"
	}
	return "invalid user name or password (the password is a GoQueue API key)"
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
