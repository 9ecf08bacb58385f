package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/bench/internal/wire"
)

// The recovery scenario measures how long a broker takes to come back with a
// large store: `loadgen fill` leaves -messages QoS 1 messages queued across
// -sessions offline persistent sessions, compare.sh stops the broker
// (SIGTERM, or kill -9) and starts it again on the same data, and
// `loadgen recovered` times the start to the first CONNACK and checks that a
// session came back with its queue.

// Recovery is the recovery scenario's part of a Result.
type Recovery struct {
	Sessions int `json:"sessions"`
	// Messages were published at QoS 1 and acknowledged by the broker, each
	// queued for one offline session.
	Messages      int     `json:"messages"`
	SubscribeSecs float64 `json:"subscribe_s,omitempty"`
	FillSecs      float64 `json:"fill_s,omitempty"`
	// Stop is how the filled broker was stopped: sigterm or kill-9;
	// StopSecs how long it took to exit after SIGTERM.
	Stop     string  `json:"stop,omitempty"`
	StopSecs float64 `json:"stop_s,omitempty"`
	// StartToConnAckSecs runs from the restarted broker's exec to the first
	// CONNACK it sent.
	StartToConnAckSecs float64 `json:"start_to_connack_s,omitempty"`
	RSSKiB             int64   `json:"rss_after_recovery_kib,omitempty"`
	DataDirBytes       int64   `json:"data_dir_bytes,omitempty"`
	// LogLine is the broker's own "recovered session store" log line, as
	// logged (JSON fields), when it logs one.
	LogLine map[string]any `json:"recovered_log,omitempty"`
	// The first session reconnected after recovery: was it present, and how
	// many of its VerifyOf queued messages did it receive.
	SessionPresent bool `json:"session_present"`
	Verified       int  `json:"verified_messages"`
	VerifyOf       int  `json:"verify_of,omitempty"`
}

func recoveryClientID(i int) string { return fmt.Sprintf("bench-rec-%d", i) }
func recoveryTopic(i int) string    { return fmt.Sprintf("bench/rec/%d", i) }

// fillTimeout bounds a wait for PUBACKs that stopped coming.
const fillTimeout = 60 * time.Second

func cmdFill(args []string) error {
	fs := flag.NewFlagSet("fill", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:1883", "broker address")
	broker := fs.String("broker", "broker", "name to record in the result")
	sessions := fs.Int("sessions", 10_000, "offline persistent sessions, each subscribed at QoS 1 to its own topic")
	messages := fs.Int("messages", 1_000_000, "QoS 1 messages to queue in all, spread evenly over the sessions")
	pubs := fs.Int("conns", 8, "publishing connections")
	inflight := fs.Int("inflight", 64, "max unacknowledged publishes per publishing connection")
	payload := fs.Int("payload", 64, "payload size in bytes (>= 20)")
	out := fs.String("out", "", "write the JSON result to this file as well as stdout")
	_ = fs.Parse(args)
	raiseFileLimit()
	if *sessions < 1 || *messages < *sessions || *payload < payloadHeader || *pubs < 1 || *inflight < 1 {
		return fmt.Errorf("fill: want sessions >= 1, messages >= sessions, payload >= %d, conns and inflight >= 1", payloadHeader)
	}
	per := *messages / *sessions
	rec := &Recovery{Sessions: *sessions, Messages: per * *sessions}
	res := Result{Broker: *broker, Scenario: "recovery", Recovery: rec}

	start := time.Now()
	if err := subscribeSessions(*addr, *sessions); err != nil {
		res.Error = err.Error()
		return writeResult(res, *out)
	}
	rec.SubscribeSecs = time.Since(start).Seconds()
	start = time.Now()
	errs := make([]error, *pubs)
	var wg sync.WaitGroup
	for k := range *pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = fillFrom(*addr, k, *pubs, *sessions, per, *inflight, *payload)
		}()
	}
	wg.Wait()
	rec.FillSecs = time.Since(start).Seconds()
	if err := errors.Join(errs...); err != nil {
		res.Error = err.Error()
	}
	return writeResult(res, *out)
}

// subscribeSessions creates the persistent sessions, each subscribed to its
// own topic at QoS 1, and disconnects them, 32 at a time.
func subscribeSessions(addr string, n int) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				c, _, err := dialSession(addr, recoveryClientID(i), keepAlive, 512, false)
				if err == nil {
					err = c.subscribe(recoveryTopic(i), 1)
					c.close()
				}
				if err != nil {
					once.Do(func() { first = fmt.Errorf("session %d: %w", i, err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// fillFrom publishes per messages at QoS 1 to each session k, k+step, ...,
// one round over all of them at a time, keeping at most inflight awaiting
// PUBACK, and returns when every one is acknowledged. Payload: send time,
// session index, round.
func fillFrom(addr string, k, step, sessions, per, inflight, size int) error {
	c, err := dial(addr, fmt.Sprintf("bench-rec-pub-%d", k), keepAlive, 64<<10)
	if err != nil {
		return err
	}
	defer c.close()
	window := make(chan struct{}, inflight)
	var acked atomic.Int64
	readErr := make(chan error, 1)
	go func() {
		readErr <- c.readLoop(func(h wire.Header) {
			if h.Type == wire.PUBACK {
				acked.Add(1)
				<-window
			}
		})
	}()
	payload := make([]byte, size)
	var pid uint16
	var sent int64
	for round := range per {
		for s := k; s < sessions; s += step {
			select {
			case window <- struct{}{}:
			default:
				if err := c.w.Flush(); err != nil {
					return fmt.Errorf("publisher %d: flush: %w", k, err)
				}
				select {
				case window <- struct{}{}:
				case err := <-readErr:
					return fmt.Errorf("publisher %d: connection lost after %d PUBACKs: %w", k, acked.Load(), err)
				case <-time.After(fillTimeout):
					return fmt.Errorf("publisher %d: no PUBACK for %s (%d of %d acknowledged)", k, fillTimeout, acked.Load(), sent)
				}
			}
			if pid++; pid == 0 {
				pid = 1
			}
			binary.BigEndian.PutUint64(payload[0:], uint64(now()))
			binary.BigEndian.PutUint32(payload[8:], uint32(s))
			binary.BigEndian.PutUint64(payload[12:], uint64(round))
			c.buf = wire.AppendPublish(c.buf[:0], recoveryTopic(s), 1, false, pid, payload)
			if _, err := c.w.Write(c.buf); err != nil {
				return fmt.Errorf("publisher %d: write: %w", k, err)
			}
			sent++
		}
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("publisher %d: final flush: %w", k, err)
	}
	deadline := time.Now().Add(fillTimeout)
	for acked.Load() < sent {
		if time.Now().After(deadline) {
			return fmt.Errorf("publisher %d: %d of %d publishes acknowledged after %s", k, acked.Load(), sent, fillTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func cmdRecovered(args []string) error {
	fs := flag.NewFlagSet("recovered", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:1883", "broker address")
	broker := fs.String("broker", "broker", "name to record in the result")
	pid := fs.Int("pid", 0, "the restarted broker's process id (for its RSS, and to stop waiting if it exits)")
	started := fs.Int64("started", 0, "when the restarted broker was exec'd, in Unix nanoseconds")
	timeout := fs.Duration("timeout", 10*time.Minute, "longest wait for the first CONNACK")
	fillPath := fs.String("fill", "", "the result `loadgen fill` wrote (sessions and messages queued)")
	stop := fs.String("stop", "", "how the filled broker was stopped: sigterm or kill-9")
	stopSecs := fs.Float64("stop-s", 0, "how long the broker took to exit after SIGTERM")
	logPath := fs.String("log", "", "the restarted broker's log, searched for its \"recovered session store\" line")
	dataDir := fs.String("data-dir", "", "the broker's data directory, for its size")
	settle := fs.Duration("settle", 15*time.Second, "longest wait for the broker's RSS to stabilise")
	out := fs.String("out", "", "write the JSON result to this file as well as stdout")
	_ = fs.Parse(args)
	if *pid == 0 || *started == 0 {
		return errors.New("recovered: -pid and -started are required")
	}

	res := Result{Broker: *broker, Scenario: "recovery-" + *stop}
	rec := &Recovery{}
	if *fillPath != "" {
		var filled []Result
		b, err := os.ReadFile(*fillPath)
		if err == nil {
			err = json.Unmarshal(b, &filled)
		}
		if err != nil || len(filled) != 1 || filled[0].Recovery == nil {
			return fmt.Errorf("read fill result %s: %v", *fillPath, err)
		}
		rec = filled[0].Recovery
		res.Error = filled[0].Error
	}
	res.Recovery, rec.Stop, rec.StopSecs = rec, *stop, *stopSecs
	if res.Error != "" {
		return writeResult(res, *out)
	}

	at, err := waitConnAck(*addr, *pid, *timeout, 2*time.Millisecond)
	if err != nil {
		res.Error = err.Error()
		return writeResult(res, *out)
	}
	rec.StartToConnAckSecs = at.Sub(time.Unix(0, *started)).Seconds()
	if rec.RSSKiB, _, err = stableRSS(*pid, *settle); err != nil {
		res.Error = err.Error()
	}
	if *dataDir != "" {
		rec.DataDirBytes = dirSize(*dataDir)
	}
	if *logPath != "" {
		rec.LogLine = recoveredLogLine(*logPath)
	}
	if rec.Sessions > 0 {
		rec.VerifyOf = rec.Messages / rec.Sessions
		rec.SessionPresent, rec.Verified, err = drainSession(*addr, 0, rec.VerifyOf)
		if err != nil && res.Error == "" {
			res.Error = err.Error()
		}
	}
	return writeResult(res, *out)
}

// drainSession reconnects session i without cleaning it, acknowledges what
// the broker delivers and returns how many distinct queued messages came,
// stopping at want or after a second without any.
func drainSession(addr string, i, want int) (present bool, got int, err error) {
	c, present, err := dialSession(addr, recoveryClientID(i), keepAlive, 64<<10, false)
	if err != nil {
		return false, 0, fmt.Errorf("reconnect session %d: %w", i, err)
	}
	defer c.close()
	var seen bitset
	for got < want {
		_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
		h, body, err := wire.Read(c.r, c.buf)
		c.buf = body[:0]
		if err != nil {
			break // no more within the second: what came is the count
		}
		if h.Type != wire.PUBLISH {
			continue
		}
		m, err := wire.ParsePublish(h.Flags, h.Body)
		if err != nil || len(m.Payload) < payloadHeader {
			continue
		}
		if m.QoS > 0 {
			_, _ = c.nc.Write(wire.AppendPubAck(nil, m.PacketID))
		}
		if int(binary.BigEndian.Uint32(m.Payload[8:])) == i && seen.set(binary.BigEndian.Uint64(m.Payload[12:])) {
			got++
		}
	}
	return present, got, nil
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// recoveredLogLine returns the fields of the last "recovered session store"
// line in the broker's log (Plume's, with --log-format json), or the raw
// line under "line" if it is not JSON, or nil.
func recoveredLogLine(path string) map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var last string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "recovered session store") {
			last = sc.Text()
		}
	}
	if last == "" {
		return nil
	}
	fields := map[string]any{}
	if json.Unmarshal([]byte(last), &fields) != nil {
		return map[string]any{"line": last}
	}
	return fields
}
