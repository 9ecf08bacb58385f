package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/rs/zerolog"
)

// sink is where the writer goroutine puts events; only it calls put and
// flush. put may hold events back; flush writes them, reporting how many
// were lost if that failed.
type sink interface {
	put(ev Event) error
	flush() (lost int, err error)
	close() error
}

// flushAt is how many bytes a fileSink holds before writing them even while
// events keep coming; otherwise it writes when the queue is empty. One
// write per batch rather than per line: a line alone costs a system call
// (about 6 µs here), four times what encoding it does.
const flushAt = 64 << 10

// fileSink appends JSON lines to a file and rotates it by size: path →
// path.1 → … → path.keep, the oldest deleted.
type fileSink struct {
	path    string
	maxSize int64
	keep    int
	f       *os.File // nil after a failed rotation or reopen: the next flush retries
	size    int64    // bytes in the file
	pending []byte   // lines not written yet
	lines   int      // in pending
}

// openFile opens path for appending, creating it (and nothing above it).
func openFile(path string, maxSize int64, keep int) (*fileSink, error) {
	s := &fileSink{path: path, maxSize: maxSize, keep: keep}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fileSink) open() error {
	// O_APPEND: every write lands at the end, even if another process (a
	// shipper truncating, an operator's echo) moved it.
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("audit log: %w", err)
	}
	s.f, s.size = f, st.Size()
	return nil
}

func (s *fileSink) put(ev Event) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if held := s.size + int64(len(s.pending)); held > 0 && held+int64(len(line))+1 > s.maxSize {
		// The line would take the file past max_size: what is pending goes
		// into this file, the line starts the next.
		if lost, err := s.flush(); err != nil {
			return fmt.Errorf("%w (%d lines lost)", err, lost)
		}
		if err := s.rotate(); err != nil {
			return err
		}
	}
	s.pending = append(append(s.pending, line...), '\n')
	s.lines++
	if len(s.pending) >= flushAt {
		if lost, err := s.flush(); err != nil {
			return fmt.Errorf("%w (%d lines lost)", err, lost)
		}
	}
	return nil
}

// flush writes the pending lines; on failure they are dropped and counted
// (an audit log that holds lines it cannot write would only grow).
func (s *fileSink) flush() (int, error) {
	if len(s.pending) == 0 {
		return 0, nil
	}
	lines := s.lines
	s.lines = 0
	defer func() { s.pending = s.pending[:0] }()
	if s.f == nil {
		if err := s.open(); err != nil {
			return lines, err
		}
	}
	n, err := s.f.Write(s.pending)
	s.size += int64(n)
	if err != nil {
		return lines, fmt.Errorf("audit log: %w", err)
	}
	return 0, nil
}

// rotate closes the file and shifts the names: path.(keep-1) → path.keep
// (replacing the oldest), …, path → path.1. With keep 0 the file is only
// truncated by starting a new one.
func (s *fileSink) rotate() error {
	var err error
	if s.f != nil {
		err = s.f.Close()
		s.f = nil
	}
	for i := s.keep - 1; i >= 1; i-- {
		if e := os.Rename(s.name(i), s.name(i+1)); e != nil && !errors.Is(e, fs.ErrNotExist) {
			err = errors.Join(err, e)
		}
	}
	if s.keep > 0 {
		err = errors.Join(err, os.Rename(s.path, s.name(1)))
	} else {
		err = errors.Join(err, os.Remove(s.path))
	}
	if err != nil {
		return fmt.Errorf("audit log rotation: %w", err)
	}
	return s.open()
}

func (s *fileSink) name(i int) string { return fmt.Sprintf("%s.%d", s.path, i) }

func (s *fileSink) close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

func (logSink) flush() (int, error) { return 0, nil }

// logSink writes events to the main log at info, marked "audit": true. The
// event's own time becomes "event_time": the log's "time" is when the
// writer got to it.
type logSink struct{ log zerolog.Logger }

func (s logSink) put(ev Event) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	var fields map[string]any
	if err := json.Unmarshal(line, &fields); err != nil {
		return err
	}
	fields["event_time"] = fields["time"]
	delete(fields, "time")
	s.log.Info().Bool("audit", true).Fields(fields).Msg("audit " + strings.ReplaceAll(string(ev.Class), "_", " "))
	return nil
}

func (logSink) close() error { return nil }
