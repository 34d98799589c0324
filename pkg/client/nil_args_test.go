package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestNilArgumentsAreErrors: a nil config or record is a mistake the
// constructors and Publish answer with an error, as they answer a zero
// config, rather than a nil-pointer panic in the caller's process.
func TestNilArgumentsAreErrors(t *testing.T) {
	srv, _ := setup(t, "t", 1)
	p := newProducer(t, srv.URL, client.ProducerConfig{})
	tests := []struct {
		name string
		call func() error
		want error // nil: any error
	}{
		{"NewConsumer(nil)", func() error { _, err := client.NewConsumer(nil); return err }, nil},
		{"NewProducer(nil)", func() error { _, err := client.NewProducer(nil); return err }, client.ErrNoBrokers},
		{"NewWithConfig(nil)", func() error { _, err := client.NewWithConfig(nil); return err }, client.ErrNoBrokers},
		{"Publish(nil)", func() error { _, err := p.Publish(context.Background(), "t", nil); return err }, nil},
		{"PublishAsync(nil)", func() error {
			ch := make(chan error, 1)
			p.PublishAsync(context.Background(), "t", nil, func(_ client.Position, err error) { ch <- err })
			return <-ch
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("got %v, want an error (%v)", err, tt.want)
			}
		})
	}
}
