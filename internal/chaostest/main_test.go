package chaostest

import (
	"flag"
	"os"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

var (
	longRun  = flag.Bool("chaos.long", os.Getenv("GOQUEUE_CHAOS_LONG") == "1", "run the long chaos test, 1,000,000 messages per assignor (also GOQUEUE_CHAOS_LONG=1)")
	seedFlag = flag.Uint64("chaos.seed", 0, "seed of the schedule of joins, leaves and kills; 0 takes one from the clock")
	msgsFlag = flag.Int("chaos.messages", 0, "messages per assignor; 0 means 25,000, or 1,000,000 with -chaos.long")
	rateFlag = flag.Int("chaos.rate", 0, "messages published per second; 0 means 5,000, or 20,000 with -chaos.long")
	logsFlag = flag.String("chaos.logs", "", "keep the workers' event logs in this directory (default: a temporary one)")
	goqueue  testkit.Binary
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(envKafkaWorkerAddr); addr != "" {
		os.Exit(kafkaWorker(addr, os.Getenv(envWorkerLog), os.Getenv(envWorkerGroup), os.Getenv(envKafkaWorkerProtocol)))
	}
	if url := os.Getenv(envWorkerURL); url != "" {
		os.Exit(worker(url, os.Getenv(envWorkerLog), os.Getenv(envWorkerGroup), os.Getenv(envWorkerAssignor)))
	}
	flag.Parse()
	code := m.Run()
	goqueue.Cleanup()
	os.Exit(code)
}
