// The ACME API. One binary, three modes:
//
//	api serve                      HTTP API on $PORT (the `api` service)
//	api scheduler --interval 60s   enqueues periodic jobs (the `scheduler` service)
//	api healthcheck                exits 0 when the local API answers (for a container health check)
//
// GET / reports whether each dependency answers: the database (a query with DATABASE_URL), redis
// (REDIS_URL), the workers and the scheduler (their last heartbeats in redis).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"sort"
	"strconv"
	"time"
)

type product struct {
	Name  string `json:"name"`
	Price string `json:"price"`
}

type check struct {
	OK     bool `json:"ok"`
	Detail any  `json:"detail"`
}

// heartbeats is the redis hash where the worker replicas and the scheduler write the time of
// their last beat, one field per process.
const heartbeats = "acme:heartbeats"

func checkOf(detail any, err error) check {
	if err != nil {
		return check{false, err.Error()}
	}
	return check{true, detail}
}

// beats are the processes whose heartbeat is younger than maxAge, by name prefix.
func beats(prefix string, maxAge time.Duration) check {
	reply, err := redisDo(os.Getenv("REDIS_URL"), "HGETALL", heartbeats)
	if err != nil {
		return check{false, err.Error()}
	}
	fields, _ := reply.([]any)
	var fresh []string
	for i := 0; i+1 < len(fields); i += 2 {
		name, _ := fields[i].(string)
		at, _ := fields[i+1].(string)
		t, _ := strconv.ParseFloat(at, 64)
		if len(name) > len(prefix) && name[:len(prefix)] == prefix && time.Since(time.Unix(int64(t), 0)) < maxAge {
			fresh = append(fresh, name[len(prefix):])
		}
	}
	sort.Strings(fresh)
	if len(fresh) == 0 {
		return check{false, "no heartbeat in the last " + maxAge.String()}
	}
	return check{true, fresh}
}

func status() map[string]any {
	checks := map[string]check{
		"db":        checkOf(pgQuery(os.Getenv("DATABASE_URL"), "SELECT current_database(), current_user, version()")),
		"redis":     checkOf(redisDo(os.Getenv("REDIS_URL"), "PING")),
		"workers":   beats("worker.", 30*time.Second),
		"scheduler": beats("scheduler.", 3*time.Minute),
	}
	ok := true
	for _, c := range checks {
		ok = ok && c.OK
	}
	return map[string]any{"service": "api", "ok": ok, "checks": checks}
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
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("content-type", "application/json")
		json.NewEncoder(w).Encode(status())
	})
	log.Printf("api listening on :%s (database %t, redis %t)", port, os.Getenv("DATABASE_URL") != "", os.Getenv("REDIS_URL") != "")
	log.Fatal(http.ListenAndServe(":"+port, mux))
}

// beat records this process's heartbeat (as `<role>.<DYNO>`).
func beat(role string) {
	name := role + "." + os.Getenv("DYNO")
	if _, err := redisDo(os.Getenv("REDIS_URL"), "HSET", heartbeats, name, strconv.FormatInt(time.Now().Unix(), 10)); err != nil {
		log.Printf("heartbeat: %v", err)
	}
}

func scheduler(args []string) {
	fs := flag.NewFlagSet("scheduler", flag.ExitOnError)
	interval := fs.Duration("interval", time.Minute, "how often to enqueue the periodic jobs")
	fs.Parse(args)
	log.Printf("scheduler: every %s", *interval)
	for {
		beat("scheduler")
		if _, err := redisDo(os.Getenv("REDIS_URL"), "RPUSH", "jobs", `{"name":"refresh-prices"}`); err != nil {
			log.Printf("enqueue refresh-prices: %v", err)
		} else {
			log.Printf("enqueued refresh-prices")
		}
		time.Sleep(*interval)
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
	args := os.Args[1:]
	// The image's ENTRYPOINT is this binary, so a command that names it again (the compose
	// file's `command: ["/app/api", "scheduler", ...]`, or Dokku's Procfile line, both passed to
	// the entrypoint as arguments) starts with its path: skip it.
	if len(args) > 0 && (args[0] == os.Args[0] || args[0] == "/app/api") {
		args = args[1:]
	}
	mode := "serve"
	if len(args) > 0 {
		mode = args[0]
		args = args[1:]
	}
	switch mode {
	case "serve":
		serve()
	case "scheduler":
		scheduler(args)
	case "healthcheck":
		healthcheck()
	default:
		log.Fatalf("unknown mode %q (serve, scheduler, healthcheck)", mode)
	}
}
