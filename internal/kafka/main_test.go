package kafka_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

var goqueue testkit.Binary

func TestMain(m *testing.M) {
	code := m.Run()
	goqueue.Cleanup()
	os.Exit(code)
}

// proc is the real goqueue binary serving HTTP and Kafka on 127.0.0.1.
// Its Restart keeps the data directory; the test's cleanup stops it and
// fails the test on an unclean exit or a logged panic.
type proc struct{ *testkit.Proc }

// start runs the binary on a fresh data directory with extra args.
func start(t testing.TB, args ...string) *proc {
	t.Helper()
	return &proc{testkit.Start(t, goqueue.Path(t), testkit.Options{Args: args, StartTimeout: 30 * time.Second, CheckExit: true})}
}

// client is a kgo client of the broker, closed at the test's end.
func (p *proc) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(p.Kafka), kgo.RetryTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
