package main

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/abd-ulbasit/goqueue/internal/kafka"
)

// kafkaConfig configures the Kafka protocol listener.
type kafkaConfig struct {
	addr            string // empty: no Kafka listener
	maxRequestBytes int64
	maxDecoding     int64
	maxFetchMemory  int64
	idleTimeout     time.Duration
}

func kafkaFlags(fs *pflag.FlagSet, c *kafkaConfig) {
	fs.StringVar(&c.addr, "kafka-addr", "localhost:9092", "Kafka protocol listen address (host:port; port 0 picks a free one); empty disables it")
	fs.Var(newSize(&c.maxRequestBytes, kafka.DefaultMaxRequestBytes), "kafka-max-request-bytes", "largest Kafka request frame; a larger one closes its connection")
	fs.Var(newSize(&c.maxDecoding, kafka.DefaultMaxDecodingBytes), "kafka-max-decoding-bytes", "most bytes of Kafka request frames held at once over all connections (beyond: the connection closes, the client retries); at least --kafka-max-request-bytes")
	fs.Var(newSize(&c.maxFetchMemory, kafka.DefaultMaxFetchMemory), "kafka-max-fetch-memory", "most bytes of fetch answers held at once over all connections, from their read to their write (beyond: a fetch answers what is left, or tries again every 50 ms within its max wait); at least 55MiB, a fetch's bound")
	fs.DurationVar(&c.idleTimeout, "kafka-idle-timeout", kafka.DefaultIdleTimeout, "how long an idle Kafka connection stays open")
}

func (c *kafkaConfig) validate() []error {
	var errs []error
	if c.addr != "" {
		if _, port, err := net.SplitHostPort(c.addr); err != nil {
			errs = append(errs, fmt.Errorf("kafka addr %q must be host:port or empty: %v", c.addr, err))
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, fmt.Errorf("kafka addr %q: port %q must be a number from 0 to 65535", c.addr, port))
		}
	}
	if c.maxRequestBytes < 1<<20 || c.maxRequestBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("kafka max request bytes %d must be between 1MiB and 1GiB", c.maxRequestBytes))
	}
	if c.idleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("kafka idle timeout %v must be positive", c.idleTimeout))
	}
	return errs
}
