package httpapi_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// FuzzStream sends the whole frames of fuzzed bytes on a consumer stream
// of a real broker, where member anchor-1 of group g holds orders/0's ten
// messages, then a PING. The broker answers the PING or closes the stream
// (never hangs or panics); every frame it sends parses, and its errors are
// coded ones of the table, never INTERNAL.
func FuzzStream(f *testing.F) {
	quiet := slog.New(slog.DiscardHandler)
	srv := brokertest.Start(f,
		brokertest.WithConfig(func(c *broker.Config) {
			c.Logger = quiet
			c.Groups.SessionTimeout = time.Hour
			c.Groups.MaxSessionTimeout = time.Hour
			c.Groups.NewMemberID = fuzzMemberID
		}),
		brokertest.WithHTTP(func(o *httpapi.Options) {
			o.Logger = quiet
			o.MaxBodyBytes = 1 << 16
		}))
	if st, raw := srv.Do("POST", "/topics", api.CreateTopicRequest{Name: "orders", Partitions: 1}); st != http.StatusCreated {
		f.Fatalf("create topic: %d %s", st, raw)
	}
	for i := range 10 {
		if st, raw := srv.Do("POST", "/topics/orders/messages", fmt.Sprintf(`{"value":"m%d"}`, i)); st >= 300 {
			f.Fatalf("publish: %d %s", st, raw)
		}
	}
	if st, raw := srv.Do("POST", "/groups/g/join", `{"topics":["orders"],"client_id":"anchor","session_timeout_ms":3600000,"rebalance_timeout_ms":60000}`); st != http.StatusOK {
		f.Fatalf("join: %d %s", st, raw)
	}
	batch, err := recordbatch.Build(nil, recordbatch.NewHeader(0), recordbatch.None, []recordbatch.Record{{Value: []byte("p")}})
	if err != nil {
		f.Fatal(err)
	}
	sub := (&api.StreamSubscription{Group: "g", MemberID: "anchor-1", Generation: 1}).Append(nil)
	settle := (&api.StreamSettle{Sub: 1, Ranges: []api.OffsetRange{{Topic: "orders", From: 0, To: 3}}}).Append(nil)
	subscribed := api.AppendStreamFrame(nil, api.StreamSubscribe, 1, sub)
	credited := api.AppendStreamFrame(subscribed, api.StreamCredit, 1, api.AppendStreamCredit(nil, 4))
	for _, wire := range [][]byte{
		subscribed,
		credited,
		api.AppendStreamFrame(credited, api.StreamAck, 2, settle),
		api.AppendStreamFrame(credited, api.StreamNack, 3, settle),
		api.AppendStreamFrame(credited, api.StreamExtend, 4, settle),
		api.AppendStreamFrame(subscribed, api.StreamCredit, 1, api.AppendStreamCredit(nil, 0)),
		api.AppendStreamFrame(nil, api.StreamProduce, 5, append(api.AppendStreamProduceHead(nil, "orders"), api.AppendFrame(nil, 0, batch)...)),
		api.AppendStreamFrame(nil, api.StreamPing, 6, nil),
	} {
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		// Whole frames only: a frame cut short would make the broker wait
		// for the rest, and swallow the PING.
		var sent []byte
		rd := api.NewStreamReader(bytes.NewReader(wire), 1<<16)
		for {
			fr, err := rd.Read()
			if err != nil {
				break
			}
			sent = api.AppendStreamFrame(sent, fr.Type, fr.ID, fr.Payload)
		}
		const last = 1<<32 - 1
		sent = api.AppendStreamFrame(sent, api.StreamPing, last, nil)
		st, sc := dialStream(t, srv, "")
		if sc == nil {
			t.Fatalf("upgrade: %d", st)
		}
		defer sc.conn.Close()
		if _, err := sc.conn.Write(sent); err != nil {
			return // closed by the broker already: a frame it refused
		}
		sc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			fr, err := sc.r.Read()
			if err != nil {
				var ne net.Error
				if errors.Is(err, api.ErrStreamFrame) || errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("after %d bytes of frames: %v", len(sent), err)
				}
				return // closed: a frame it refused
			}
			switch fr.Type {
			case api.StreamPong:
				if fr.ID == last {
					return
				}
			case api.StreamError, api.StreamSettled:
				e, err := api.ParseStreamError(fr.Payload)
				if err != nil || e.Code == api.ErrInternal.Code {
					t.Fatalf("%v frame %q: %v %v", fr.Type, fr.Payload, e, err)
				}
			case api.StreamDeliver:
				if _, err := decodePollStored(fr.Payload); err != nil {
					t.Fatalf("DELIVER frame: %v", err)
				}
			case api.StreamProduced:
				if _, err := api.ParseStreamProduced(nil, fr.Payload); err != nil {
					t.Fatalf("PRODUCED frame: %v", err)
				}
			}
		}
	})
}
