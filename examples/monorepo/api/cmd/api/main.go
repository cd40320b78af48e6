// The ACME API. One binary, three modes:
//
//	api serve                      HTTP API on $PORT (the `api` service)
//	api scheduler --interval 60s   enqueues periodic jobs (the `scheduler` service)
//	api healthcheck                exits 0 when the local API answers (for a container health check)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

type product struct {
	Name  string `json:"name"`
	Price string `json:"price"`
}

func serve() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/products", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("content-type", "application/json")
		json.NewEncoder(w).Encode([]product{{"Anvil", "49.00"}, {"Rocket skates", "199.00"}})
	})
	log.Printf("api listening on :%s (database %t, redis %t)", port, os.Getenv("DATABASE_URL") != "", os.Getenv("REDIS_URL") != "")
	log.Fatal(http.ListenAndServe(":"+port, mux))
}

func scheduler(args []string) {
	fs := flag.NewFlagSet("scheduler", flag.ExitOnError)
	interval := fs.Duration("interval", time.Minute, "how often to enqueue the periodic jobs")
	fs.Parse(args)
	for range time.Tick(*interval) {
		log.Printf("enqueue: refresh-prices (redis %t)", os.Getenv("REDIS_URL") != "")
	}
}

func healthcheck() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	res, err := http.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil || res.StatusCode != http.StatusOK {
		os.Exit(1)
	}
}

func main() {
	mode := "serve"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "serve":
		serve()
	case "scheduler":
		scheduler(os.Args[2:])
	case "healthcheck":
		healthcheck()
	default:
		log.Fatalf("unknown mode %q (serve, scheduler, healthcheck)", mode)
	}
}
