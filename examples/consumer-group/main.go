package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

func main() {
	// Create consumer
	consumer, err := client.NewConsumer(&client.ConsumerConfig{
		Brokers:    []string{"localhost:8080"},
		GroupID:    "order-processor",
		Topics:     []string{"orders"},
		AutoCommit: false, // Manual commit for at-least-once
	})
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()

	// Handle shutdown
	ctx, cancel := context.WithCancel(context.Background())
	sigChan := make(chan os.Signal, 1)
	signal.Notify(sigChan, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigChan
		cancel()
	}()

	// Consume loop
	for {
		select {
		case <-ctx.Done():
			return
		default:
			messages, err := consumer.Poll(ctx, 100)
			if err != nil {
				log.Printf("Poll error: %v", err)
				continue
			}

			for _, msg := range messages {
				// Process message
				if err := processOrder(msg); err != nil {
					log.Printf("Process error: %v", err)
					consumer.Nack(msg) // Will retry
					continue
				}
				consumer.Ack(msg) // Commit offset
			}
		}
	}
}

func processOrder(msg *client.Message) error {
	// Your processing logic
	return nil
}
