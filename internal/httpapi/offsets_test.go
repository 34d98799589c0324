package httpapi_test

import (
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

func getOffsets(t *testing.T, s *brokertest.Server, group string) api.Offsets {
	t.Helper()
	var resp api.OffsetsResponse
	mustUnmarshal(t, mustGet(t, s, "/groups/"+group+"/offsets"), &resp)
	return resp.Offsets
}
