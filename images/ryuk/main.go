// A stand-in for the testcontainers/ryuk image, for machines that cannot pull it.
//
// It speaks Ryuk's protocol: clients connect to TCP port 8080 (RYUK_PORT) and send filter
// lines such as "label=org.testcontainers.session-id=UUID"; each line is answered "ACK".
// Once every client has disconnected (a closed socket: the owning process ended, even by
// SIGKILL) and none reconnects within RYUK_RECONNECTION_TIMEOUT (default 10s), it removes
// the containers (with their anonymous volumes), networks, volumes and images that match
// any filter, then exits. With no client at all within RYUK_CONNECTION_TIMEOUT (default
// 60s) it exits. It talks to the Docker Engine API on /var/run/docker.sock with the Go
// standard library only.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

const socketPath = "/var/run/docker.sock"

func duration(name string, fallback time.Duration) time.Duration {
	if value := os.Getenv(name); value != "" {
		if parsed, err := time.ParseDuration(value); err == nil {
			return parsed
		}
		log.Printf("ignoring %s=%q: not a duration", name, value)
	}
	return fallback
}

type reaper struct {
	mu        sync.Mutex
	clients   int
	connected bool
	filters   map[string]url.Values
	changed   chan struct{}
}

func (r *reaper) serve(conn net.Conn) {
	defer conn.Close()
	r.mu.Lock()
	r.clients++
	r.connected = true
	r.mu.Unlock()
	r.notify()
	defer func() {
		r.mu.Lock()
		r.clients--
		r.mu.Unlock()
		r.notify()
	}()
	scanner := bufio.NewScanner(conn)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		query, err := url.ParseQuery(line)
		if err != nil {
			log.Printf("bad filter %q: %v", line, err)
			continue
		}
		r.mu.Lock()
		r.filters[query.Encode()] = query
		r.mu.Unlock()
		log.Printf("filter added: %s", line)
		if _, err := conn.Write([]byte("ACK\n")); err != nil {
			return
		}
	}
}

func (r *reaper) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// waitForOrphans returns once clients came and went and none came back in time.
func (r *reaper) waitForOrphans(connectionTimeout, reconnectionTimeout time.Duration) bool {
	var timer <-chan time.Time = time.After(connectionTimeout)
	for {
		select {
		case <-r.changed:
			r.mu.Lock()
			clients, connected := r.clients, r.connected
			r.mu.Unlock()
			if clients > 0 {
				timer = nil
			} else if connected {
				timer = time.After(reconnectionTimeout)
			}
		case <-timer:
			r.mu.Lock()
			connected := r.connected
			r.mu.Unlock()
			return connected
		}
	}
}

type engine struct{ client *http.Client }

func newEngine() *engine {
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socketPath)
		},
	}
	return &engine{client: &http.Client{Transport: transport, Timeout: 60 * time.Second}}
}

func (e *engine) call(method, path string, query url.Values, into interface{}) error {
	address := "http://docker" + path
	if len(query) > 0 {
		address += "?" + query.Encode()
	}
	request, err := http.NewRequest(method, address, nil)
	if err != nil {
		return err
	}
	response, err := e.client.Do(request)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	if response.StatusCode == http.StatusNotFound {
		return nil // already gone
	}
	if response.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, response.Status, strings.TrimSpace(string(body)))
	}
	if into != nil {
		return json.Unmarshal(body, into)
	}
	return nil
}

func filterQuery(filter url.Values, all bool) url.Values {
	encoded, _ := json.Marshal(map[string][]string(filter))
	query := url.Values{"filters": {string(encoded)}}
	if all {
		query.Set("all", "1")
	}
	return query
}

// prune removes what matches each filter; it retries because a network stays busy for a
// moment after its containers are gone.
func (e *engine) prune(filters map[string]url.Values) {
	for _, filter := range filters {
		var containers []struct{ Id string }
		if err := e.call("GET", "/containers/json", filterQuery(filter, true), &containers); err != nil {
			log.Print(err)
		}
		for _, container := range containers {
			query := url.Values{"force": {"1"}, "v": {"1"}}
			if err := e.call("DELETE", "/containers/"+container.Id, query, nil); err != nil {
				log.Print(err)
			} else {
				log.Printf("removed container %.12s", container.Id)
			}
		}
	}
	for _, filter := range filters {
		var networks []struct{ Id string }
		if err := e.call("GET", "/networks", filterQuery(filter, false), &networks); err != nil {
			log.Print(err)
		}
		for _, network := range networks {
			var err error
			for attempt := 0; attempt < 10; attempt++ {
				if err = e.call("DELETE", "/networks/"+network.Id, nil, nil); err == nil {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if err != nil {
				log.Print(err)
			} else {
				log.Printf("removed network %.12s", network.Id)
			}
		}
		var volumes struct{ Volumes []struct{ Name string } }
		if err := e.call("GET", "/volumes", filterQuery(filter, false), &volumes); err != nil {
			log.Print(err)
		}
		for _, volume := range volumes.Volumes {
			if err := e.call("DELETE", "/volumes/"+volume.Name, url.Values{"force": {"1"}}, nil); err != nil {
				log.Print(err)
			}
		}
		var images []struct{ Id string }
		if err := e.call("GET", "/images/json", filterQuery(filter, false), &images); err != nil {
			log.Print(err)
		}
		for _, image := range images {
			if err := e.call("DELETE", "/images/"+image.Id, url.Values{"force": {"1"}}, nil); err != nil {
				log.Print(err)
			}
		}
	}
}

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	port := os.Getenv("RYUK_PORT")
	if port == "" {
		port = "8080"
	}
	listener, err := net.Listen("tcp", ":"+port)
	if err != nil {
		log.Fatal(err)
	}
	r := &reaper{filters: map[string]url.Values{}, changed: make(chan struct{}, 1)}
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go r.serve(conn)
		}
	}()
	log.Printf("ryuk stand-in listening on :%s: Started!", port)
	connected := r.waitForOrphans(
		duration("RYUK_CONNECTION_TIMEOUT", 60*time.Second),
		duration("RYUK_RECONNECTION_TIMEOUT", 10*time.Second),
	)
	listener.Close()
	if !connected {
		log.Print("no client connected in time: exiting")
		return
	}
	r.mu.Lock()
	filters := r.filters
	r.mu.Unlock()
	newEngine().prune(filters)
	log.Print("done")
}
