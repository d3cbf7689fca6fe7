package queue_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/pipelines/queue"
)

// Running asynq without Redis: start the embedded server, then connect
// clients and servers through its ConnOpt, in-memory connections that only
// this process can open.
func ExampleStartEmbedded() {
	ctx := context.Background()
	e, err := queue.StartEmbedded(ctx, queue.EmbeddedOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close() // after the asynq server has shut down

	opt := e.ConnOpt()
	done := make(chan string)
	srv := asynq.NewServer(opt, queue.ServerConfig(asynq.Config{LogLevel: asynq.WarnLevel}))
	mux := asynq.NewServeMux()
	mux.HandleFunc("build:run", func(ctx context.Context, t *asynq.Task) error {
		done <- string(t.Payload())
		return nil
	})
	if err := srv.Start(mux); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()

	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask("build:run", []byte(`{"build_id":1}`))); err != nil {
		log.Fatal(err)
	}
	fmt.Println("handled", <-done)
	// Output: handled {"build_id":1}
}
