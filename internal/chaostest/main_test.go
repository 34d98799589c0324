package chaostest

import (
	"bufio"
	"flag"
	"io"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

var (
	longRun   = flag.Bool("chaos.long", os.Getenv("GOQUEUE_CHAOS_LONG") == "1", "run the long chaos test, 1,000,000 messages per assignor (also GOQUEUE_CHAOS_LONG=1)")
	seedFlag  = flag.Uint64("chaos.seed", 0, "seed of the schedule of joins, leaves and kills; 0 takes one from the clock")
	msgsFlag  = flag.Int("chaos.messages", 0, "messages per assignor; 0 means 25,000, or 1,000,000 with -chaos.long")
	rateFlag  = flag.Int("chaos.rate", 0, "messages published per second; 0 means 5,000, or 20,000 with -chaos.long")
	logsFlag  = flag.String("chaos.logs", "", "keep the workers' event logs in this directory (default: a temporary one)")
	goqueue   brokertest.Binary
	listening = regexp.MustCompile(`msg=listening addr=(\S+) .*kafka_addr=(\S+)`)
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

// startBroker runs the binary on 127.0.0.1:0 with args and returns its URL
// and its Kafka listener's address once it logs them. t.Cleanup kills it
// and waits for it.
func startBroker(t *testing.T, args ...string) (url, kafkaAddr string) {
	t.Helper()
	cmd := exec.Command(goqueue.Path(t), append([]string{"--addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan [2]string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if m := listening.FindSubmatch(sc.Bytes()); m != nil {
				select {
				case addr <- [2]string{string(m[1]), string(m[2])}:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
	select {
	case a := <-addr:
		return "http://" + a[0], a[1]
	case <-done:
		t.Fatal("broker exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("broker did not listen within 30 s")
	}
	return "", ""
}
