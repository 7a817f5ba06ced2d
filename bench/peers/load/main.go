// Command load is the many-sessions load generator of bench/peers.ts, built and driven by
// bench/peers/many-sessions.ts: a job as JSON on stdin, its result as JSON on stdout. Modes:
//
//   - load: `concurrency` virtual users, each owning a disjoint slice of the sessions and sending its
//     requests one at a time, as a browser does, to the next node in turn (a round-robin balancer
//     without affinity) until `durationMs` has passed. A request is a write (/demo/inc) with
//     probability `writeRatio`, else a read (/demo/get?k=count).
//   - fill: every session i sends `paths` in order to node i % len(nodes) (creates the sessions).
//   - check: every session reads its counter from every node: `values[i][n]` (0 when unreadable).
//
// In every mode each session's cookie jar follows every Set-Cookie (jar.go), a 200 answer to
// /demo/inc is an acknowledged increment (`acks`, per session), and any other answer or a failed
// request is an error. Each virtual user (or fill/check worker) holds one connection per node.
package main

import (
	"encoding/json"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	incPath = "/demo/inc"
	getPath = "/demo/get?k=count"
)

type job struct {
	Mode        string     `json:"mode"`
	Nodes       []string   `json:"nodes"`
	Jars        [][]cookie `json:"jars"`
	Concurrency int        `json:"concurrency"`
	DurationMs  float64    `json:"durationMs"`
	WriteRatio  float64    `json:"writeRatio"`
	Paths       []string   `json:"paths"`
}

type result struct {
	Requests int64       `json:"requests"`
	Ms       float64     `json:"ms"`
	Errors   int64       `json:"errors"`
	Acks     []int64     `json:"acks"`
	Jars     [][]cookie  `json:"jars"`
	Values   [][]float64 `json:"values,omitempty"`
	// The CPU the generator used (user + system), so that a run shows what it took from the systems.
	CPUMs float64 `json:"cpuMs"`
}

// A virtual user or a worker: its connections (one per node) and its counts.
type user struct {
	conns    []*conn
	requests int64
	errors   int64
}

type run struct {
	job    job
	jars   []*jar
	acks   []int64
	values [][]float64
}

func (r *run) newUser() *user {
	u := &user{conns: make([]*conn, len(r.job.Nodes))}
	for i, base := range r.job.Nodes {
		u.conns[i] = &conn{addr: strings.TrimPrefix(base, "http://")}
	}
	return u
}

// send sends one request of session s to node n; the body is valid until the user's next request.
func (r *run) send(u *user, s, n int, path string) (int, []byte) {
	status, body, err := u.conns[n].get(path, r.jars[s])
	if err != nil {
		u.errors++
		return 0, nil
	}
	u.requests++
	if status != 200 {
		u.errors++
	} else if path == incPath {
		r.acks[s]++ // only this session's user or worker touches acks[s]
	}
	return status, body
}

func (r *run) load(v int, u *user, deadline time.Time) {
	var mine []int
	for s := v; s < len(r.jars); s += r.job.Concurrency {
		mine = append(mine, s)
	}
	if len(mine) == 0 {
		return
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano() + int64(v)))
	turn := v
	for k := 0; time.Now().Before(deadline); k++ {
		path := getPath
		if rng.Float64() < r.job.WriteRatio {
			path = incPath
		}
		r.send(u, mine[k%len(mine)], turn%len(r.job.Nodes), path)
		turn++
	}
}

// each runs `work` on every session, `concurrency` sessions at once.
func (r *run) each(u *user, next *int64, work func(u *user, s int)) {
	for s := int(atomic.AddInt64(next, 1)) - 1; s < len(r.jars); s = int(atomic.AddInt64(next, 1)) - 1 {
		work(u, s)
	}
}

func (r *run) fill(u *user, s int) {
	for _, p := range r.job.Paths {
		r.send(u, s, s%len(r.job.Nodes), p)
	}
}

func (r *run) check(u *user, s int) {
	r.values[s] = make([]float64, len(r.job.Nodes))
	for n := range r.job.Nodes {
		if status, body := r.send(u, s, n, getPath); status == 200 {
			r.values[s][n] = counter(body)
		}
	}
}

// counter is the `v` of a /demo/get answer as a number, as JavaScript's `Number(v) || 0` gives it.
func counter(body []byte) float64 {
	var answer struct{ V interface{} }
	if json.Unmarshal(body, &answer) != nil {
		return 0
	}
	switch v := answer.V.(type) {
	case float64:
		return v
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			return f
		}
	case bool:
		if v {
			return 1
		}
	}
	return 0
}

func main() {
	var r run
	if err := json.NewDecoder(os.Stdin).Decode(&r.job); err != nil {
		fail("cannot read the job: " + err.Error())
	}
	j := &r.job
	if len(j.Nodes) == 0 || j.Concurrency < 1 {
		fail("the job needs nodes and a concurrency of at least 1")
	}
	r.jars = make([]*jar, len(j.Jars))
	for i, cookies := range j.Jars {
		r.jars[i] = newJar(cookies)
	}
	r.acks = make([]int64, len(r.jars))
	if j.Mode == "check" {
		r.values = make([][]float64, len(r.jars))
	}
	var work func(u *user, s int)
	switch j.Mode {
	case "load":
	case "fill":
		work = r.fill
	case "check":
		work = r.check
	default:
		fail("unknown mode " + strconv.Quote(j.Mode))
	}
	started := time.Now()
	deadline := started.Add(time.Duration(j.DurationMs * float64(time.Millisecond)))
	users := make([]*user, j.Concurrency)
	var next int64
	var wg sync.WaitGroup
	for v := range users {
		users[v] = r.newUser()
		wg.Add(1)
		go func(v int, u *user) {
			defer wg.Done()
			if work == nil {
				r.load(v, u, deadline)
			} else {
				r.each(u, &next, work)
			}
		}(v, users[v])
	}
	wg.Wait()
	out := result{
		Ms:     float64(time.Since(started).Microseconds()) / 1000,
		Acks:   r.acks,
		Jars:   make([][]cookie, len(r.jars)),
		Values: r.values,
	}
	for _, u := range users {
		out.Requests += u.requests
		out.Errors += u.errors
		for _, c := range u.conns {
			c.close()
		}
	}
	var usage syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &usage) == nil {
		out.CPUMs = float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e6
	}
	for i, jr := range r.jars {
		out.Jars[i] = jr.cookies
		if out.Jars[i] == nil {
			out.Jars[i] = []cookie{}
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("cannot write the result: " + err.Error())
	}
}

func fail(msg string) {
	os.Stderr.WriteString("load: " + msg + "\n")
	os.Exit(2)
}
